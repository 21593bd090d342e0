/**
 * The one place @peculiar/x509 is loaded: it needs reflect-metadata first and a WebCrypto provider
 * (Bun's globalThis.crypto). Everything else imports x509 from here.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(globalThis.crypto as unknown as Crypto);

export { x509 };
