import { connect, isIP } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** reachable: connected; refused: RST (the host is up, nothing listens); timeout: no answer. */
export type DialStatus = 'reachable' | 'refused' | 'timeout' | 'unreachable' | 'error';

/** Called once per dial with the outcome and the error name ("ECONNREFUSED") or "connected". */
export type DialDone = (status: DialStatus, detail: string) => void;

export type Dialer = (address: string, port: number, timeoutMs: number, done: DialDone) => void;

function classify(code: string | undefined): DialStatus {
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT') return 'timeout';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EHOSTDOWN') return 'unreachable';
  return 'error';
}

/**
 * Portable dialer on net.Socket. Each refused dial costs an Error with a captured stack inside
 * Node, which is most of its cost; see rawDialer for the fast path.
 */
export const socketDialer: Dialer = (address, port, timeoutMs, done) => {
  const sock = connect({ host: address, port });
  const finish = (status: DialStatus, detail: string) => {
    clearTimeout(timer);
    sock.removeAllListeners();
    sock.on('error', () => undefined);
    sock.destroy();
    done(status, detail);
  };
  const timer = setTimeout(() => finish('timeout', `no answer within ${timeoutMs}ms`), timeoutMs);
  sock.once('connect', () => finish('reachable', 'connected'));
  sock.once('error', (err: NodeJS.ErrnoException) => finish(classify(err.code), err.code ?? err.message));
};

interface TcpHandle {
  connect(req: object, address: string, port: number): number;
  connect6(req: object, address: string, port: number): number;
  close(cb?: () => void): void;
}
interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => { oncomplete: (status: number) => void };
  constants: { SOCKET: number };
}

/**
 * Fast dialer on Node's own TCP handle (the `tcp_wrap` binding net.Socket is built on): a
 * connect is one libuv request and one callback, with no Socket object, stream machinery or
 * Error allocation. This triples the dial rate (measured in bench/sweep.bench.ts), which is what
 * a sweep of thousands of ports is about. The binding is internal: loadRawDialer() returns
 * undefined when it is missing or behaves unexpectedly, and the sweep then uses socketDialer.
 */
function makeRawDialer(b: TcpWrapBinding): Dialer {
  return (address, port, timeoutMs, done) => {
    const handle = new b.TCP(b.constants.SOCKET);
    const req = new b.TCPConnectWrap();
    let settled = false;
    const finish = (status: DialStatus, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      handle.close();
      done(status, detail);
    };
    const timer = setTimeout(() => finish('timeout', `no answer within ${timeoutMs}ms`), timeoutMs);
    req.oncomplete = (status: number) => {
      if (status === 0) return finish('reachable', 'connected');
      const name = safeErrorName(status);
      finish(classify(name), name);
    };
    const err = isIP(address) === 6 ? handle.connect6(req, address, port) : handle.connect(req, address, port);
    if (err) {
      const name = safeErrorName(err);
      finish(classify(name), name);
    }
  };
}

function safeErrorName(code: number): string {
  try {
    return getSystemErrorName(code);
  } catch {
    return `error ${code}`;
  }
}

let raw: Dialer | null | undefined;

/** The tcp_wrap dialer, or undefined when this Node does not offer it (or OPSFLEET_SWEEP_DIALER=net). */
export function loadRawDialer(): Dialer | undefined {
  if (raw !== undefined) return raw ?? undefined;
  raw = null;
  if (process.env.OPSFLEET_SWEEP_DIALER === 'net') return undefined;
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding('tcp_wrap') as Partial<TcpWrapBinding>;
    if (typeof binding.TCP === 'function' && typeof binding.TCPConnectWrap === 'function' && typeof binding.constants?.SOCKET === 'number') {
      const probe = new binding.TCP(binding.constants.SOCKET);
      const ok = typeof probe.connect === 'function' && typeof probe.connect6 === 'function' && typeof probe.close === 'function';
      probe.close();
      if (ok) raw = makeRawDialer(binding as TcpWrapBinding);
    }
  } catch {
    raw = null;
  }
  return raw ?? undefined;
}

/** The fastest dialer available here. */
export function defaultDialer(): Dialer {
  return loadRawDialer() ?? socketDialer;
}
