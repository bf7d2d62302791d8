/**
 * `config --docker-import`: the Dockerfile instructions that give `docker import` (and `podman
 * import`) back the image's config, for the `--change` flags an export → import round trip loses
 * (moby #34187: "No command specified").
 *
 * docker parses each change as one Dockerfile line, so values are written in the forms that line
 * parser reads back exactly: CMD, ENTRYPOINT and VOLUME in JSON (exec) form, which is neither split
 * nor expanded; ENV and LABEL as `KEY="VALUE"` with `\`, `"` and `$` escaped (ENV and LABEL expand
 * `$NAME`); WORKDIR and USER with `\` and `$` escaped. A value a single line cannot hold (a newline)
 * is refused. Checked against Docker 26.1: the imported image's Config equals the original's in each
 * field written here (test/import-changes.test.ts, live when an engine is reachable).
 */
import { LayerfoldError, showText } from './errors.js';
import type { RuntimeConfig } from './read/config.js';

function oneLine(field: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new LayerfoldError('UNSUPPORTED', `${field} holds a line break, which a --change instruction cannot carry`);
  // the line is read by people on a terminal too: an ESC or a C1 CSI would drive it (escape.ts)
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(value)) throw new LayerfoldError('UNSUPPORTED', `${field} holds a control character (${showText(value)}), which this line cannot show safely`);
  return value;
}

/** Inside double quotes on a Dockerfile line: `\`, `"` and `$` escaped. */
function quoted(field: string, value: string): string {
  return `"${oneLine(field, value).replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

/** A bare word that the line parser expands: `\` and `$` escaped. */
function bare(field: string, value: string): string {
  return oneLine(field, value).replace(/[\\$]/g, (c) => `\\${c}`);
}

const json = (field: string, values: string[]) => oneLine(field, JSON.stringify(values));

/** The instructions, in a fixed order, for every field that is set. */
export function dockerImportChanges(config: RuntimeConfig): string[] {
  const out: string[] = [];
  for (const entry of config.Env ?? []) {
    const eq = entry.indexOf('=');
    // docker keeps an Env entry without '=' as it is; an ENV instruction cannot say that
    if (eq <= 0) throw new LayerfoldError('UNSUPPORTED', `Env entry ${JSON.stringify(entry)} is not NAME=VALUE; an ENV instruction cannot carry it`);
    out.push(`ENV ${bare('Env', entry.slice(0, eq))}=${quoted('Env', entry.slice(eq + 1))}`);
  }
  if (config.Entrypoint !== undefined && config.Entrypoint !== null) out.push(`ENTRYPOINT ${json('Entrypoint', config.Entrypoint)}`);
  if (config.Cmd !== undefined && config.Cmd !== null) out.push(`CMD ${json('Cmd', config.Cmd)}`);
  if (config.WorkingDir) out.push(`WORKDIR ${bare('WorkingDir', config.WorkingDir)}`);
  if (config.User) out.push(`USER ${bare('User', config.User)}`);
  for (const port of Object.keys(config.ExposedPorts ?? {}).sort()) out.push(`EXPOSE ${bare('ExposedPorts', port)}`);
  const volumes = Object.keys(config.Volumes ?? {}).sort();
  if (volumes.length > 0) out.push(`VOLUME ${json('Volumes', volumes)}`);
  for (const [key, value] of Object.entries(config.Labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    out.push(`LABEL ${quoted('Labels', key)}=${quoted('Labels', value)}`);
  }
  if (config.StopSignal) out.push(`STOPSIGNAL ${bare('StopSignal', config.StopSignal)}`);
  return out;
}
