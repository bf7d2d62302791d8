/**
 * The small parser: ordinary invocations (`export IMG -o FILE --no-verify --include a b`) read from the
 * table in commands.ts without loading yargs, which costs ~20 ms of a ~60 ms run (BENCHMARKS.md,
 * "Start-up"). It takes only spellings whose meaning to yargs is plain and gives `undefined` for
 * anything else — an unknown or repeated option, `--`, grouped short flags, `--flag true`, a value that
 * starts with `-`, a number yargs might read its own way, a wrong choice, a missing or extra positional
 * — and then yargs parses as it always did, errors included. So each argument list it does take means
 * what it means to yargs (test/cli-args.test.ts compares the two on generated argument lists).
 */
import { COMMANDS, type CommandSpec, GLOBAL_OPTIONS, type OptionDef, positionalsOf } from './commands.js';

export interface Invocation {
  /** '' for the top level (`layerfold --help`). */
  command: string;
  spec?: CommandSpec;
  help: boolean;
  args: Record<string, unknown>;
}

const HELP: OptionDef = { type: 'boolean', describe: '' };
const PLAIN_NUMBER = /^(0|[1-9]\d*)(\.\d+)?$/;

/** Long names and one-letter aliases → [name, def]. */
function lookup(spec: CommandSpec): Map<string, readonly [string, OptionDef]> {
  const out = new Map<string, readonly [string, OptionDef]>([['help', ['help', HELP]], ['h', ['help', HELP]]]);
  for (const entry of [...GLOBAL_OPTIONS, ...spec.options]) {
    out.set(entry[0], entry);
    if (entry[1].alias) out.set(entry[1].alias, entry);
  }
  return out;
}

const isOption = (token: string) => token.startsWith('-') && token !== '-';

/** `--name`, `--name=value`, `-x`, `-x=value` → name (as written) and value; undefined for other shapes. */
function split(token: string): { key: string; value?: string } | undefined {
  const long = token.startsWith('--');
  const body = token.slice(long ? 2 : 1);
  const eq = body.indexOf('=');
  const key = eq < 0 ? body : body.slice(0, eq);
  if (key === '' || (!long && key.length !== 1)) return undefined;
  return eq < 0 ? { key } : { key, value: body.slice(eq + 1) };
}

/** A value as yargs would give it for this option, or undefined to leave the whole line to yargs. */
function typed(def: OptionDef, raw: string): string | number | undefined {
  if (def.choices && !def.choices.includes(raw)) return undefined;
  if (def.type === 'number') return PLAIN_NUMBER.test(raw) ? Number(raw) : undefined;
  return raw;
}

/** Parse `argv` (after run()'s `-` swap) for the table's commands; undefined: let yargs do it. */
export function parseArgv(argv: readonly string[]): Invocation | undefined {
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) return { command: '', help: true, args: {} };
  const command = argv[0];
  const spec = command !== undefined && Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (command === undefined || spec === undefined) return undefined;
  const names = lookup(spec);
  const args: Record<string, unknown> = {};
  for (const [name, def] of [...GLOBAL_OPTIONS, ...spec.options]) if (def.default !== undefined) args[name] = def.default;
  const given = new Set<string>();
  const positionals: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const token = argv[i]!;
    if (!isOption(token)) {
      if (PLAIN_NUMBER.test(token) || token === '') return undefined; // yargs turns some of these into numbers
      positionals.push(token);
      continue;
    }
    const parts = split(token);
    let entry = parts && names.get(parts.key);
    let negated = false;
    if (parts && !entry && parts.key.startsWith('no-') && parts.value === undefined) {
      entry = names.get(parts.key.slice(3));
      negated = true;
      if (entry?.[1].type !== 'boolean' || entry[0] === 'help') return undefined;
    }
    if (!parts || !entry || given.has(entry[0])) return undefined;
    const [name, def] = entry;
    given.add(name);
    const next = argv[i + 1];
    if (def.type === 'boolean') {
      if (parts.value !== undefined || next === 'true' || next === 'false') return undefined;
      args[name] = !negated;
      continue;
    }
    const values: Array<string | number> = [];
    let raw = parts.value;
    if (raw === undefined) {
      if (next === undefined || isOption(next)) return undefined;
      raw = next;
      i++;
    }
    for (;;) {
      const value = typed(def, raw);
      if (value === undefined || raw === '') return undefined;
      values.push(value);
      // an array option takes every following word up to the next option, as yargs' greedy arrays do
      const more = argv[i + 1];
      if (!def.array || more === undefined || isOption(more)) break;
      raw = more;
      i++;
    }
    args[name] = def.array ? values : values[0];
  }
  const help = args.help === true;
  delete args.help;
  if (!help && !assignPositionals(spec, positionals, args)) return undefined;
  if (!help && spec.options.some(([name, def]) => def.demandOption && args[name] === undefined)) return undefined;
  return { command, spec, help, args };
}

/** The positionals into their names; false when yargs would refuse their number. */
function assignPositionals(spec: CommandSpec, words: string[], args: Record<string, unknown>): boolean {
  const declared = positionalsOf(spec);
  let at = 0;
  for (const { name, required, variadic } of declared) {
    if (variadic) {
      args[name] = words.slice(at);
      at = words.length;
    } else if (at < words.length) {
      args[name] = words[at++];
    } else if (required) {
      return false;
    }
  }
  return at === words.length;
}
