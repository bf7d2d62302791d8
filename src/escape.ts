/**
 * Text from an image, made safe to print: one home for every output. An image is a stranger's, and
 * a name, a tag, an Env value or a history line that reaches the terminal raw can rewrite it (ESC,
 * CR, an OSC title, a CSI in its one-character C1 form U+009B). Three forms:
 * - displayName / displayText, for text outputs: control characters (C0, DEL, C1) and backslash
 *   escaped as GNU tar's listing escapes them in a UTF-8 locale (`\033`, `\r`, `\302\233`, `\\`), so
 *   `ls --long` stays field for field what `tar -tv` prints; other valid UTF-8 is shown as is;
 * - jsonText, for --json: JSON.stringify, whose output is exact, plus DEL and C1 as \u escapes
 *   (JSON.stringify leaves them raw; inside a JSON string the escape is the same character);
 * - printable, for one-line error messages (`\x1b`).
 */

const C_ESCAPES: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 92: '\\\\' };

function utf8Length(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

const octal = (b: number) => `\\${b.toString(8).padStart(3, '0')}`;

/** Printable ASCII but the backslash: shown as it is (most names; ls of a million names made a million copies). */
const PLAIN = /^[\x20-\x5b\x5d-\x7e]*$/;

/** A raw name (latin1 string of bytes) as GNU tar's listing shows it (LC_ALL=C.UTF-8). */
export function displayName(latin1: string): string {
  if (PLAIN.test(latin1)) return latin1;
  const bytes = Buffer.from(latin1, 'latin1');
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    if (b < 0x20 || b === 0x7f || b === 0x5c) {
      out += C_ESCAPES[b] ?? octal(b);
      i++;
      continue;
    }
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    const n = utf8Length(b);
    const seq = n > 0 ? bytes.subarray(i, i + n) : undefined;
    const text = seq && seq.length === n ? seq.toString('utf8') : '';
    if (text.length > 0 && !text.includes('\ufffd')) {
      // a C1 control in UTF-8 (c2 80…c2 9f) is not printable: tar shows its bytes, `\302\233`
      const cp = text.codePointAt(0)!;
      out += cp >= 0x80 && cp <= 0x9f ? [...seq!].map(octal).join('') : text;
      i += n;
    } else {
      out += octal(b);
      i++;
    }
  }
  return out;
}

/** Text (a config value, a tag) as displayName shows the same UTF-8 bytes. */
export function displayText(text: string): string {
  return displayName(Buffer.from(text, 'utf8').toString('latin1'));
}

// eslint-disable-next-line no-control-regex
const RAW_IN_JSON = /[\u007f-\u009f]/g;

/** JSON.stringify with DEL and C1 escaped too: the same JSON value, nothing a terminal obeys. */
export function jsonText(value: unknown, space?: number): string {
  return (JSON.stringify(value, null, space) ?? 'null').replace(RAW_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Text from an archive (a tag, a name) with its control characters escaped, so a message stays one line. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
