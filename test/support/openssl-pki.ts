/**
 * Throwaway certificates made with the openssl CLI for TLS tests: a CA, and leaves it signs for
 * 127.0.0.1/localhost with one extended key usage. Files land in `dir` as <name>.pem / <name>.key.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export function opensslPki(dir: string) {
  const file = (name: string) => join(dir, name);
  const sh = (cmd: string) => {
    const r = Bun.spawnSync(["sh", "-c", cmd], { cwd: dir });
    if (r.exitCode !== 0) throw new Error(`${cmd}\n${r.stderr.toString()}`);
  };
  return {
    file,
    makeCa(name: string): void {
      sh(`openssl ecparam -name prime256v1 -genkey -noout -out ${name}.key && openssl req -x509 -new -key ${name}.key -subj "/CN=${name}" -days 1 -out ${name}.pem -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"`);
    },
    makeLeaf(name: string, ca: string, usage: "serverAuth" | "clientAuth"): void {
      writeFileSync(file(`${name}.ext`), `subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=${usage}\nbasicConstraints=CA:FALSE\n`);
      sh(`openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ${name}.key -subj "/CN=${name}" -out ${name}.csr 2>/dev/null && openssl x509 -req -in ${name}.csr -CA ${ca}.pem -CAkey ${ca}.key -CAcreateserial -days 1 -out ${name}.pem -extfile ${name}.ext 2>/dev/null`);
    },
  };
}

/** The text `openssl crl -text` prints for a CRL in PEM (serials listed upper-case hex), for tests that look one up. */
export async function crlText(pem: string, dir: string): Promise<string> {
  const file = join(dir, `crl-${Date.now()}-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(file, pem);
  const p = Bun.spawn(["openssl", "crl", "-in", file, "-noout", "-text"], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  return out;
}
