/**
 * Values from outside (a request's body and headers, a token's claims) are kept as they were
 * sent, and escaped where they are shown: in `ds100-admin audit` and in the server's log. What is
 * escaped is every character a terminal or a line-oriented reader acts on instead of showing:
 * C0 controls (a newline would start a forged line, ESC a terminal sequence), DEL, C1 controls
 * (U+009B is a CSI on its own), the Unicode line and paragraph separators, and the bidirectional
 * overrides and isolates that make a line read in another order than it is written.
 */
const HIDDEN = '\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';
const HIDDEN_OR_BACKSLASH = new RegExp(`[\\\\${HIDDEN}]`, 'g');
/** JSON.stringify escapes the C0 controls itself, but none of the others. */
const LEFT_RAW_BY_JSON = new RegExp(`[\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]`, 'g');

const SHORT: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const hex = (c: string, digits: number) => c.charCodeAt(0).toString(16).padStart(digits, '0');
const unicodeEscape = (c: string) => `\\u${hex(c, 4)}`;

/**
 * `text` with each such character written as an escape (`\n`, `\x1b`, `\u2028`), and a
 * backslash as `\\` so that an escape and the same characters sent literally stay apart.
 */
export function printable(text: string): string {
  return text.replace(HIDDEN_OR_BACKSLASH, (c) => SHORT[c] ?? (c.charCodeAt(0) < 0x100 ? `\\x${hex(c, 2)}` : unicodeEscape(c)));
}

/**
 * A JSON text (one line of JSON.stringify) with the characters JSON leaves raw written as
 * `\uXXXX` escapes: the same JSON value, safe to print. They can only stand inside a string.
 */
export function printableJson(json: string): string {
  return json.replace(LEFT_RAW_BY_JSON, unicodeEscape);
}
