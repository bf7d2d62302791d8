/**
 * Time-outs and body bounds for everything layerfold reads over a network or a socket (the registry
 * client and the Docker engine API). Node's http has none of its own that end a stalled transfer:
 * an engine that accepts and never answers, a registry that never responds, or a blob sent one byte
 * a second would each hang a command forever. Every request here is guarded four ways:
 *
 * - connect: the TCP connection (and TLS handshake) must be up within `connectMs`;
 * - response: the response headers must arrive within `responseMs` of the connection;
 * - idle: a body must not go `idleMs` without a byte;
 * - speed: a body must bring at least `minBytesPerSecond`, averaged over each `idleMs` window — so a
 *   trickle that never quite goes idle (one byte every 5 s) still ends.
 *
 * Each ends with a NetTimeoutError naming the host and what stalled (and the flag that sets it); the
 * registry client retries it like any broken-off transfer, the engine client gives up at once.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { LayerfoldError } from '../errors.js';

export interface NetTimeouts {
  /** TCP connect and TLS handshake (default 30 s). */
  connectMs: number;
  /** From the connection to the response headers (default 60 s). */
  responseMs: number;
  /** No byte of a body for this long (default 60 s); also the window the speed is measured over. */
  idleMs: number;
  /** Fewer bytes a second than this, averaged over an `idleMs` window, is a stall (default 1024; 0: off). */
  minBytesPerSecond: number;
}

export const DEFAULT_TIMEOUTS: NetTimeouts = { connectMs: 30_000, responseMs: 60_000, idleMs: 60_000, minBytesPerSecond: 1024 };

/** A connection, response or body that stalled (the registry client retries it as transient). */
export class NetTimeoutError extends LayerfoldError {
  constructor(message: string) {
    super('IO', message);
  }
}

/** 60000 → "60 s", 200 → "0.2 s", 60774 → "60.8 s". */
function seconds(ms: number): string {
  return `${ms >= 100 ? Math.round(ms / 100) / 10 : ms / 1000} s`;
}

/**
 * Guard a request's connect and response phases. `host` names the far end in messages.
 * The request is destroyed with a NetTimeoutError (its 'error' event) when a phase runs out.
 */
export function guardRequest(req: ClientRequest, host: string, t: NetTimeouts): void {
  let timer: NodeJS.Timeout | undefined;
  const clear = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  const fail = (message: string) => () => req.destroy(new NetTimeoutError(`${host}: ${message}`));
  const awaitResponse = () => {
    clear();
    timer = setTimeout(fail(`no response within ${seconds(t.responseMs)} (--response-timeout)`), t.responseMs);
  };
  req.once('socket', (socket: Socket) => {
    if (!socket.connecting) {
      awaitResponse(); // a kept-alive connection, already up
      return;
    }
    timer = setTimeout(fail(`no connection within ${seconds(t.connectMs)} (--connect-timeout)`), t.connectMs);
    socket.once('encrypted' in socket ? 'secureConnect' : 'connect', awaitResponse);
  });
  req.once('response', clear);
  req.once('close', clear);
}

/**
 * Guard a response body: destroyed with a NetTimeoutError when no byte comes for `idleMs`, or fewer
 * than `minBytesPerSecond` on average over an `idleMs` window. Bytes are counted on the socket (chunk
 * framing and TLS records included), so the guard sees the transfer itself, whoever reads the body.
 */
export function guardBody(res: IncomingMessage, host: string, t: NetTimeouts): void {
  const socket = res.socket;
  if (!socket) return;
  // A body nobody reads any more (resumed, or left after a refusal) must not crash the process when
  // it is ended here; whoever does read it still gets the error.
  res.on('error', () => undefined);
  const bytes = () => socket.bytesRead;
  const tick = Math.max(5, Math.min(1000, t.idleMs / 4));
  let lastBytes = bytes();
  let lastByteAt = Date.now();
  let windowStart = lastByteAt;
  let windowBytes = lastBytes;
  const interval = setInterval(() => {
    const now = Date.now();
    const b = bytes();
    if (b !== lastBytes) {
      lastBytes = b;
      lastByteAt = now;
    }
    if (now - lastByteAt >= t.idleMs) {
      stop();
      res.destroy(new NetTimeoutError(`${host}: the transfer stalled: no data for ${seconds(t.idleMs)} (--idle-timeout)`));
      return;
    }
    if (now - windowStart >= t.idleMs) {
      const got = b - windowBytes;
      const wanted = (t.minBytesPerSecond * (now - windowStart)) / 1000;
      if (got < wanted) {
        stop();
        res.destroy(new NetTimeoutError(`${host}: the transfer stalled: ${got} bytes in ${seconds(now - windowStart)}, under --min-speed ${t.minBytesPerSecond} bytes/s`));
        return;
      }
      windowStart = now;
      windowBytes = b;
    }
  }, tick);
  interval.unref();
  const stop = () => clearInterval(interval);
  res.once('end', stop);
  res.once('close', stop);
  res.once('error', stop);
}
