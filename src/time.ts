/** Times given on the command line or found in configs: RFC 3339 (any fraction) or epoch seconds. */
import { LayerfoldError } from './errors.js';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Whole seconds since the epoch, rounded down (docker keeps whole seconds in tar headers). */
export function parseTime(text: string, what: string): number {
  const t = text.trim();
  if (/^-?\d+$/.test(t)) return Number(t);
  const m = RFC3339.exec(t);
  if (!m) throw new LayerfoldError('USAGE', `${what} ${JSON.stringify(text)}: expected RFC 3339 (2024-05-01T12:00:00Z) or epoch seconds`);
  const [, y, mo, d, h, mi, s, , zone] = m;
  let secs = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) / 1000;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone!.startsWith('-') ? -1 : 1;
    const [zh, zm] = zone!.slice(1).split(':').map(Number);
    secs -= sign * (zh! * 3600 + zm! * 60);
  }
  return secs;
}

export function parseTimeOrUndefined(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseTime(text, 'time');
  } catch {
    return undefined;
  }
}
