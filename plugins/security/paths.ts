/** Validation of untrusted names: secret paths and service names. Pure. */
import { SERVICE_NAME_PATTERN } from "./schema";
import { SecErrors } from "./errors";

const SERVICE_RE = new RegExp(SERVICE_NAME_PATTERN);
// Control characters (C0, DEL, C1) and backslash are refused anywhere in a path.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\\]/;
const SEGMENT_RE = /^[A-Za-z0-9_.@:+=,-]+$/;

export function assertServiceName(name: string | null | undefined): string {
  // Elysia hands over null for a parameter whose percent-encoding is malformed.
  if (typeof name !== "string" || !SERVICE_RE.test(name)) throw SecErrors.SEC_ERR_BAD_SERVICE_NAME(undefined, "service");
  return name;
}

/**
 * A secret path: segments of [A-Za-z0-9_.@:+=,-] joined by "/", no "." or ".." segment, not absolute,
 * no empty segment, no control characters, at most `maxLength` bytes. Returns the canonical form.
 */
export function validateSecretPath(raw: string, maxLength: number): string {
  const bad = (why: string) => SecErrors.SEC_ERR_BAD_PATH(`invalid secret path: ${why}`, "path");
  if (raw.length === 0) throw bad("empty");
  if (Buffer.byteLength(raw) > maxLength) throw bad(`longer than ${maxLength} bytes`);
  if (CONTROL_RE.test(raw)) throw bad("control characters or backslash");
  if (raw.startsWith("/")) throw bad("absolute paths are not allowed");
  const path = raw.endsWith("/") ? raw.slice(0, -1) : raw;
  for (const seg of path.split("/")) {
    if (seg === "") throw bad("empty segment");
    if (seg === "." || seg === "..") throw bad("'.' and '..' segments are not allowed");
    if (!SEGMENT_RE.test(seg)) throw bad(`segment "${seg.slice(0, 32)}" has characters outside [A-Za-z0-9_.@:+=,-]`);
  }
  return path;
}

/** Decode a percent-encoded path from a URL without letting a malformed escape throw a 500. */
export function decodePathParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw SecErrors.SEC_ERR_BAD_PATH("invalid secret path: malformed percent-encoding", "path");
  }
}
