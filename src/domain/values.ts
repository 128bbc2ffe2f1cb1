import { EMAIL, IDENTIFIER, NO_NUL } from '../contract/schemas.ts';
import { apiError } from '../errors.ts';

/**
 * The contract's value rules (src/contract/schemas.ts: IDENTIFIER, EMAIL) applied to values that
 * enter the store other than through the API's schemas (the command line, an import file), so
 * that nothing is stored that the API could not address, on either engine.
 */

/** The rules in words, for the 400s of the API and the refusals of the directory alike. */
export const RULE_TEXT = {
  noNul: 'must not contain a NUL character',
  text: 'must be a string',
  string: (maxLength?: number) => `must be a non-empty string of at most ${maxLength ?? 'any number of'} characters`,
  email: 'must be an e-mail address, name@domain',
};

/**
 * The WHATWG's "valid e-mail address" (the rule of `<input type=email>`): a local part without
 * spaces or quotes, `@`, and a domain of letters, digits and hyphens.
 */
const EMAIL_SYNTAX =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

interface StringRule {
  readonly minLength: number;
  readonly maxLength: number;
  readonly pattern: string;
}

const patterns = new Map<string, RegExp>();
const matches = (pattern: string, value: string): boolean => {
  let re = patterns.get(pattern);
  if (!re) patterns.set(pattern, (re = new RegExp(pattern)));
  return re.test(value);
};

/**
 * `value` without the spaces around it, if it keeps `rule`; else the API's 400 naming `property`.
 * Spaces around a serial or an id are never part of it (a CSV cell has always been read trimmed),
 * so every input is trimmed alike rather than stored with them. Lengths count code points, as
 * the API's schemas do.
 */
export function checkString(property: string, value: unknown, rule: StringRule): string {
  if (typeof value !== 'string') throw apiError('INVALID_PROPERTY', property, RULE_TEXT.string(rule.maxLength));
  const trimmed = value.trim();
  const length = [...trimmed].length;
  if (length < rule.minLength || length > rule.maxLength) throw apiError('INVALID_PROPERTY', property, RULE_TEXT.string(rule.maxLength));
  if (!matches(rule.pattern, trimmed)) throw apiError('INVALID_PROPERTY', property, RULE_TEXT.noNul);
  return trimmed;
}

export const checkIdentifier = (property: string, value: unknown): string => checkString(property, value, IDENTIFIER);

/** An e-mail address to store: the API's rule, and the syntax of one. */
export function checkEmail(property: string, value: unknown): string {
  const email = checkString(property, value, EMAIL);
  if (!EMAIL_SYNTAX.test(email)) throw apiError('INVALID_PROPERTY', property, RULE_TEXT.email);
  return email;
}

/** A user given by id, or by e-mail address (anything with an `@`), as the API looks them up. */
export function checkUserReference(property: string, value: unknown): string {
  const text = typeof value === 'string' ? value.trim() : value;
  return typeof text === 'string' && text.includes('@') ? checkString(property, text, EMAIL) : checkIdentifier(property, text);
}

/** A name or a label: free text, trimmed, and null when blank; only a NUL is refused. */
export function checkOptionalText(property: string, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') throw apiError('INVALID_PROPERTY', property, RULE_TEXT.text);
  const trimmed = value.trim();
  if (trimmed === '') return null;
  if (!matches(NO_NUL, trimmed)) throw apiError('INVALID_PROPERTY', property, RULE_TEXT.noNul);
  return trimmed;
}
