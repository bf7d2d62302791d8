/**
 * Every command's `--help` as yargs renders it at the widths a run most often asks for (100: not a
 * terminal; 110: a terminal at least that wide), keyed `COMMAND WIDTH` (`' 100'` for the top level).
 * Undefined here; the bundle replaces this module with the texts yargs gave when it was built
 * (scripts/bundle.js), so `--help` needs no yargs. Any other width is rendered by yargs as before.
 */
export const HELP: Readonly<Record<string, string>> | undefined = undefined;
