/**
 * `${VAR}` and `${VAR:-default}` in the config text, resolved before YAML parsing so a value can be
 * any YAML scalar (`port: ${API_GATEWAY_PORT:-8000}` parses as a number). `$${` escapes a literal `${`.
 * An unset variable without a default is an error that names the line.
 */

export interface InterpolationError {
  line: number;
  column: number;
  variable: string;
}

const VAR_RE = /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function interpolate(text: string, env: Record<string, string | undefined>): { text: string; errors: InterpolationError[] } {
  const errors: InterpolationError[] = [];
  const lines = text.split("\n");
  const out = lines.map((line, i) => {
    // Comments are documentation: leave `${...}` there untouched and unchecked.
    const hash = commentStart(line);
    const body = hash === -1 ? line : line.slice(0, hash);
    const rest = hash === -1 ? "" : line.slice(hash);
    const replaced = body.replace(VAR_RE, (match, escaped: string | undefined, name: string, fallback: string | undefined, offset: number) => {
      if (escaped) return match.slice(1);
      const value = env[name];
      if (value !== undefined && value !== "") return yamlSafe(value);
      if (fallback !== undefined) return fallback;
      errors.push({ line: i + 1, column: offset + 1, variable: name });
      return "";
    });
    return replaced + rest;
  });
  return { text: out.join("\n"), errors };
}

/** A value with a newline would shift every later line; keep it on one line as a JSON string. */
function yamlSafe(value: string): string {
  return /[\n\r]/.test(value) ? JSON.stringify(value) : value;
}

/** Index of a `#` that starts a comment (not inside quotes), or -1. */
export function commentStart(line: string): number {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"') i++;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#" && (i === 0 || line[i - 1] === " " || line[i - 1] === "\t")) return i;
  }
  return -1;
}
