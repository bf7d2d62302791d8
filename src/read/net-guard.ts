/**
 * Time-outs and body bounds for everything layerfold reads over a network or a socket (the registry
 * client and the Docker engine API). Node's http has none of its own that end a stalled transfer:
 * an engine that accepts and never answers, a registry that never responds, or a blob sent one byte
 * a second would each hang a command forever. Every request here is guarded four ways:
 *
 * - connect: the TCP connection (and TLS handshake) must be up within `connectMs`;
 * - response: the response headers must arrive within `responseMs` of sending the request (connecting
 *   and any redirects included, so one request waits at most `responseMs` for its headers);
 * - idle: a body must not go `idleMs` without a byte;
 * - speed: a body must bring at least `minBytesPerSecond`, averaged over each `idleMs` window — so a
 *   trickle that never quite goes idle (one byte every 5 s) still ends.
 *
 * Each ends with a NetTimeoutError naming the host and what stalled (and the flag that sets it); the
 * registry client retries it within its retry window (http.ts), the engine client gives up at once.
 * So one guarded request that makes no progress ends within `attemptBoundMs` (response + idle + one
 * tick of the body guard): 25 s with the defaults, which issue 20 wants well under 60 s per command.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { LayerfoldError } from '../errors.js';

export interface NetTimeouts {
  /** TCP connect and TLS handshake (default 10 s; the response time-out counts it too). */
  connectMs: number;
  /** From sending the request to the response headers, connecting and redirects included (default 12 s). */
  responseMs: number;
  /** No byte of a body for this long (default 12 s); also the window the speed is measured over. */
  idleMs: number;
  /** Fewer bytes a second than this, averaged over an `idleMs` window, is a stall (default 1024; 0: off). */
  minBytesPerSecond: number;
  /** A docker:// pull's time without progress, across all its requests (default 30 s; StallClock). */
  stallMs: number;
}

export const DEFAULT_TIMEOUTS: NetTimeouts = { connectMs: 10_000, responseMs: 12_000, idleMs: 12_000, minBytesPerSecond: 1024, stallMs: 30_000 };

/** How often the body guard looks at the byte count: a stall is seen at most one tick late. */
export function guardTickMs(idleMs: number): number {
  return Math.max(5, Math.min(1000, idleMs / 4));
}

/**
 * The longest one guarded request can take without making progress: its headers within
 * `responseMs`, then a body that fails the idle or speed check within `idleMs` plus one tick.
 * (A request that runs longer has passed a speed window: it is a transfer, not a stall.)
 */
export function attemptBoundMs(t: NetTimeouts): number {
  return t.responseMs + t.idleMs + guardTickMs(t.idleMs);
}

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
 * Guard a request's connect and response phases. `host` names the far end in messages; `sentAt`
 * is when the first request of a redirect chain was sent (the response time-out covers the chain).
 * The request is destroyed with a NetTimeoutError (its 'error' event) when a phase runs out.
 */
export function guardRequest(req: ClientRequest, host: string, t: NetTimeouts, sentAt = Date.now()): void {
  let connectTimer: NodeJS.Timeout | undefined;
  const fail = (message: string) => () => req.destroy(new NetTimeoutError(`${host}: ${message}`));
  // From sending, not from connecting: connect and response would otherwise add up per request.
  const responseTimer = setTimeout(fail(`no response within ${seconds(t.responseMs)} (--response-timeout)`), Math.max(0, sentAt + t.responseMs - Date.now()));
  const clear = () => {
    clearTimeout(responseTimer);
    if (connectTimer) clearTimeout(connectTimer);
  };
  req.once('socket', (socket: Socket) => {
    if (!socket.connecting) return; // a kept-alive connection, already up
    connectTimer = setTimeout(fail(`no connection within ${seconds(t.connectMs)} (--connect-timeout)`), t.connectMs);
    socket.once('encrypted' in socket ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
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
  const tick = guardTickMs(t.idleMs);
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

/** What the stall clock watches: a request before its headers, or a success's body. */
interface Watched {
  destroy(error: Error): void;
}

/**
 * The stall bound of a whole pull (issue 20): each request is bounded above, but a registry that
 * answers every request just in time (the token, the index, the manifest, the config, each blob)
 * would still hold a command for minutes without a byte of an image. The clock runs while the pull
 * does and looks at the bytes of every success's body (2xx; challenges, redirects and error bodies
 * bring nothing) each tick: a tick that brings at least `--min-speed` (or ends a body) drains the
 * clock by its length, any other adds to it; at `budgetMs` every request in flight ends with one line.
 * So N seconds in a row without a byte end the pull after N s, short stalls add up unless the bytes
 * between them flow as long, and a download that keeps to --min-speed is never cut, however long.
 */
export class StallClock {
  private readonly tickMs: number;
  private readonly timer: NodeJS.Timeout;
  private readonly pending = new Set<Watched>();
  private readonly bodies = new Map<IncomingMessage, number>();
  private debtMs = 0;
  private ended = false;
  private failure: LayerfoldError | undefined;
  private readonly waiters = new Set<(e: Error) => void>();

  constructor(
    private readonly host: string,
    private readonly budgetMs: number,
    private readonly minBytesPerSecond: number,
  ) {
    this.tickMs = Math.max(5, Math.min(1000, budgetMs / 8));
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  /** A request until its response (or its end). */
  request(req: ClientRequest): void {
    this.pending.add(req);
    const done = () => this.pending.delete(req);
    req.once('response', done);
    req.once('close', done);
  }

  /** A success's body: its bytes are the pull's progress. */
  body(res: IncomingMessage): void {
    const socket = res.socket;
    if (!socket) return;
    this.bodies.set(res, socket.bytesRead);
    res.once('end', () => (this.ended = true));
    res.once('close', () => this.bodies.delete(res));
  }

  /** Throw the stall, if the clock ran out: no new attempt starts after it. */
  check(): void {
    if (this.failure) throw this.failure;
  }

  /** Wait `ms` (a retry's backoff: it counts as time without progress), or fail with the stall. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    this.check();
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const stop = (e: Error) => {
        clearTimeout(timer);
        this.waiters.delete(stop);
        signal?.removeEventListener('abort', aborted);
        reject(e);
      };
      const aborted = () => stop(signal!.reason as Error);
      const timer = setTimeout(() => {
        this.waiters.delete(stop);
        signal?.removeEventListener('abort', aborted);
        resolve();
      }, ms);
      this.waiters.add(stop);
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    let got = 0;
    for (const [res, seen] of this.bodies) {
      const now = res.socket?.bytesRead ?? seen;
      got += Math.max(0, now - seen);
      this.bodies.set(res, now);
    }
    const moved = this.ended || (got > 0 && got >= (this.minBytesPerSecond * this.tickMs) / 1000);
    this.ended = false;
    this.debtMs = moved ? Math.max(0, this.debtMs - this.tickMs) : this.debtMs + this.tickMs;
    if (this.debtMs >= this.budgetMs) this.fail();
  }

  private fail(): void {
    this.stop();
    this.failure = new LayerfoldError('IO', `${this.host}: the pull made no progress for ${seconds(this.budgetMs)} in all (--stall-timeout)`);
    for (const w of [...this.pending, ...this.bodies.keys()]) w.destroy(this.failure);
    for (const reject of this.waiters) reject(this.failure);
    this.pending.clear();
    this.bodies.clear();
    this.waiters.clear();
  }
}
