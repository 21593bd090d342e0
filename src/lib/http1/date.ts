/**
 * The Date field line ("date: <IMF-fixdate>\r\n") for the current second, formatted once a second:
 * answers a server makes itself, and responses a proxy forwards without one (RFC 9110 §6.6.1).
 */
let second = 0;
let line = "";

export function dateLine(): string {
  const sec = Math.floor(Date.now() / 1000);
  if (sec !== second) { second = sec; line = "date: " + new Date(sec * 1000).toUTCString() + "\r\n"; }
  return line;
}
