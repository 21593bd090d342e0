#!/usr/bin/env bash
# The one definition of what the test suite needs on the machine (used by `bun run test` and .ci/run).
# Installs whatever is missing with apt-get (one update, noninteractive) when it can: root and apt-get.
# When it cannot, it stops at once with ONE line naming the missing tools and the command that installs
# them (exit 3). Uses only shell builtins besides `id` and `apt-get`, so its tests can run it with a PATH
# of test doubles. Prints nothing when everything is present.
set -uo pipefail

# tool on PATH → Debian package that provides it
# (Debian's prometheus package has both promtool and the prometheus server: the observability end-to-end test runs it.)
tools=(redis-server openssl curl jq promtool prometheus chromium prometheus-alertmanager sysdig)
pkgs=(redis-server openssl curl jq prometheus prometheus chromium prometheus-alertmanager sysdig)
# Installed with --no-install-recommends: sysdig's recommends pull a DKMS kernel module (and a compiler);
# the tests only need its libsinsp filter compiler.
norec=(sysdig)

missing_tools=() missing_pkgs=()
for i in "${!tools[@]}"; do
  command -v "${tools[$i]}" >/dev/null 2>&1 && continue
  missing_tools+=("${tools[$i]}")
  [[ " ${missing_pkgs[*]-} " == *" ${pkgs[$i]} "* ]] || missing_pkgs+=("${pkgs[$i]}")   # one package, several tools: named once
done
[ ${#missing_tools[@]} -eq 0 ] && exit 0

plain_pkgs=() norec_pkgs=()
for p in "${missing_pkgs[@]}"; do
  if [[ " ${norec[*]} " == *" $p "* ]]; then norec_pkgs+=("$p"); else plain_pkgs+=("$p"); fi
done
install_cmd=""
[ ${#plain_pkgs[@]} -gt 0 ] && install_cmd="apt-get install -y ${plain_pkgs[*]}"
[ ${#norec_pkgs[@]} -gt 0 ] && install_cmd="${install_cmd:+$install_cmd && }apt-get install -y --no-install-recommends ${norec_pkgs[*]}"
uid=$(id -u 2>/dev/null || echo unknown)
if [ "$uid" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  why="not root"; [ "$uid" = "0" ] && why="no apt-get"
  echo "provision-test: missing ${missing_tools[*]} ($why, cannot install); install with: sudo $install_cmd" >&2
  exit 3
fi

echo "provision-test: installing ${missing_pkgs[*]} (for ${missing_tools[*]})" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq >/dev/null \
  || { [ ${#plain_pkgs[@]} -gt 0 ] && ! apt-get install -y -qq "${plain_pkgs[@]}" >/dev/null; } \
  || { [ ${#norec_pkgs[@]} -gt 0 ] && ! apt-get install -y -qq --no-install-recommends "${norec_pkgs[@]}" >/dev/null; }; then
  echo "provision-test: apt-get failed installing ${missing_pkgs[*]}; run: $install_cmd" >&2
  exit 3
fi
still=()
for t in "${missing_tools[@]}"; do command -v "$t" >/dev/null 2>&1 || still+=("$t"); done
if [ ${#still[@]} -gt 0 ]; then
  echo "provision-test: installed packages but ${still[*]} still not on PATH; run: $install_cmd" >&2
  exit 3
fi
