# Sourced before every ```bash doctest block (test/support/doctest/shell.ts says why each part exists).
set -Eeuo pipefail
shopt -s inherit_errexit
DOCTEST_EXPECT=

# Before each command: its markdown line (read back by the runner after a failure) and documented status.
__doctest_cmd() { printf '%s\n' "$1" > "$DOCTEST_STATE"; DOCTEST_EXPECT=$2; }

# The real curl, failing on an HTTP status the example does not document; streams cut after a while.
curl() {
  local extra=() a err rc=0 status
  for a in "$@"; do
    case "$a" in
      -N|--no-buffer) extra=(--max-time "$DOCTEST_STREAM_SECONDS") ;;
      -X*|--*) ;;
      -*N*) extra=(--max-time "$DOCTEST_STREAM_SECONDS") ;;
    esac
  done
  err=$(mktemp)
  command curl "${extra[@]}" -w '%{stderr}@@doctest-status %{http_code}\n' "$@" 2>"$err" || rc=$?
  status=$(grep -o '@@doctest-status [0-9]*' "$err" | tail -n 1 | cut -d' ' -f2) || true
  sed 's/@@doctest-status [0-9]*//' "$err" | grep -v '^$' >&2 || true
  rm -f "$err"
  status=${status:-000}
  # A stream we cut ourselves (exit 28, timeout) after a 2xx head is a pass.
  if [ "$rc" = 28 ] && [ ${#extra[@]} -gt 0 ] && [ "$status" -ge 200 ] && [ "$status" -lt 300 ]; then rc=0; fi
  if [ "$rc" != 0 ]; then echo "doctest: curl exited $rc (HTTP $status)" >&2; return "$rc"; fi
  if [ -n "$DOCTEST_EXPECT" ]; then
    [ "$status" = "$DOCTEST_EXPECT" ] || { echo "doctest: HTTP $status, the example documents $DOCTEST_EXPECT" >&2; return 1; }
  elif [ "$status" -ge 400 ]; then
    echo "doctest: HTTP $status, and the example documents no error status" >&2; return 1
  fi
}
