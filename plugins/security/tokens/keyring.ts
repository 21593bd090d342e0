/**
 * ES256 signing keys with rotation: the newest key signs; a key that stopped signing keeps verifying
 * until the last token it could have signed has expired (retired_at + max_ttl + skew), then it is pruned.
 * Persisted sealed (AES-256-GCM) in <dir>/jwt-keys.sealed so a restart keeps the kids.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { openOrExplain, writeFileAtomic, type SealBox } from "../crypto-box";

interface StoredKey { kid: string; created: number; retired_at?: number; pkcs8: string }

export interface KeyRing {
  signing(): { kid: string; key: KeyObject };
  verifier(kid: string): KeyObject | undefined;
  /** The JWKS document, rebuilt on change. */
  jwksJson(): string;
  /** Rotate when the signing key is older than rotateEveryMs (or always when forced); prune expired keys. */
  maintain(opts: { rotateEveryMs: number; maxTtlMs: number; skewMs: number; force?: boolean }): boolean;
  kids(): string[];
}

function thumbprint(pub: KeyObject): string {
  const j = pub.export({ format: "jwk" }) as { crv: string; x: string; y: string };
  return createHash("sha256").update(`{"crv":"${j.crv}","kty":"EC","x":"${j.x}","y":"${j.y}"}`).digest("base64url").slice(0, 22);
}

export function createKeyRing(file: string, box: SealBox): KeyRing {
  const AAD = "jwt-keys";
  let stored: StoredKey[] = existsSync(file) ? JSON.parse(openOrExplain(box, readFileSync(file, "utf8"), AAD, `token signing keys ${file}`).toString("utf8")) : [];
  let priv = new Map<string, KeyObject>();
  let pub = new Map<string, KeyObject>();
  let jwks = "";

  function rebuild() {
    priv = new Map(stored.map((k) => [k.kid, createPrivateKey(k.pkcs8)]));
    pub = new Map([...priv].map(([kid, k]) => [kid, createPublicKey(k)]));
    jwks = JSON.stringify({
      keys: [...pub].map(([kid, k]) => ({ ...(k.export({ format: "jwk" }) as object), kid, alg: "ES256", use: "sig" })),
    });
  }
  function save() {
    writeFileAtomic(file, box.seal(JSON.stringify(stored), AAD));
    rebuild();
  }
  function add(now: number) {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    stored.push({ kid: thumbprint(publicKey), created: now, pkcs8: privateKey.export({ format: "pem", type: "pkcs8" }) as string });
  }

  if (stored.length === 0) { add(Date.now()); save(); } else rebuild();

  return {
    signing() {
      const k = stored[stored.length - 1];
      return { kid: k.kid, key: priv.get(k.kid)! };
    },
    verifier(kid) { return pub.get(kid); },
    jwksJson() { return jwks; },
    kids() { return stored.map((k) => k.kid); },
    maintain({ rotateEveryMs, maxTtlMs, skewMs, force }) {
      const now = Date.now();
      let changed = false;
      const newest = stored[stored.length - 1];
      if (force || now - newest.created >= rotateEveryMs) {
        newest.retired_at = now;
        add(now);
        changed = true;
      }
      const before = stored.length;
      stored = stored.filter((k) => k.retired_at === undefined || k.retired_at + maxTtlMs + skewMs > now);
      if (stored.length !== before) changed = true;
      if (changed) save();
      return changed;
    },
  };
}
