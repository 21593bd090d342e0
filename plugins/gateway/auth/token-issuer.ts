/**
 * Access tokens minted by /auth/login and /auth/refresh: HS256 with JWT_SECRET_KEY, signed with jose
 * (the project's issuing library; verification on the hot path is our own node:crypto check).
 */
import { SignJWT } from "jose";

export interface IssuerOptions {
  secret: Uint8Array;
  issuer: string;
  audience: string;
  accessTtlMs: number;
}

export interface IssuedAccess {
  token: string;
  expiresInS: number;
}

export class TokenIssuer {
  constructor(private readonly opts: IssuerOptions) {}

  async access(subject: string, scopes: readonly string[], via: string): Promise<IssuedAccess> {
    const now = Math.floor(Date.now() / 1000);
    const ttlS = Math.max(1, Math.floor(this.opts.accessTtlMs / 1000));
    const jwt = new SignJWT({ scope: scopes.join(" "), via })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(subject)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttlS)
      .setJti(crypto.randomUUID());
    if (this.opts.issuer) jwt.setIssuer(this.opts.issuer);
    if (this.opts.audience) jwt.setAudience(this.opts.audience);
    return { token: await jwt.sign(this.opts.secret), expiresInS: ttlS };
  }
}
