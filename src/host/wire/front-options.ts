/** What a wire port's front is given (listener.ts builds it), and the limits it holds every connection to. */
import type { Logger } from "../../core/log";
import type { Generation, Slot } from "../slot";
import type { PeerVerdict } from "../tls-peers";
import type { Tunnel } from "./tunnel";

/** Bun.serve refuses larger heads too; the same ceiling keeps both lanes alike. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** Pipelined bytes held while a response is in progress before reading pauses. */
export const MAX_BUFFERED = 256 * 1024;
/**
 * Paused reading resumes once what is held drops below this (or more bytes are needed to go on), so a
 * new read never copies much of what already waits: resuming after every answer made each pipelined
 * request cost a copy of the whole held buffer.
 */
export const RESUME_BELOW = 32 * 1024;
/** Default: a request head must be complete this long after its first byte (slow-header clients get 408, as nginx's client_header_timeout). */
export const HEAD_TIMEOUT_MS = 30_000;

export interface FrontOptions {
  hostname: string;
  port: number;
  /** SO_REUSEPORT (several worker processes on the port). */
  reusePort: boolean;
  slot: Slot;
  log: Logger;
  tunnel: Tunnel;
  idleTimeoutS: number;
  /** How long a request head may take to arrive (408 after). */
  headTimeoutMs: number;
  /** Called when a generation's in-flight count drops (the listener's accounting). */
  finish(gen: Generation): void;
  /** Platform mTLS: terminate TLS here, and admit each client certificate live (revocation, SPIFFE ID). */
  tls?: Bun.TLSOptions;
  peers?: PeerVerdict;
}
