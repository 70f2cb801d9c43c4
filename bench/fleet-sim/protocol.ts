/** Messages between the fleet simulator's parent (fleet.ts) and its worker processes (worker.ts), over the fork IPC channel. */
import type { SimCadence, SimCounters, SimNatsOptions } from './virtual-agent.js';

export interface WorkerSpec {
  /** Index of the worker's first agent in the whole fleet (host ids are `<prefix><index>`). */
  first: number;
  count: number;
  hostPrefix: string;
  /** Tags every agent of this worker carries (e.g. `group: kill`): targets and route matchers use them. */
  tags: Record<string, string>;
  nats: SimNatsOptions;
  /**
   * Per-host NATS credentials: a path with `{host}` replaced by the host id (an enrolled
   * agent's `<state_dir>/identity/nats.creds`). Unset: every agent uses `nats` as given.
   */
  credsFileTemplate?: string;
  /**
   * gRPC over mTLS as an enrolled agent serves it: each port presents `<host>.crt` (fleet CA,
   * binding the host id) with the key every simulated host shares, and requires a client
   * certificate from the fleet CA (the controller's). Unset: plaintext gRPC.
   */
  tls?: { caFile: string; keyFile: string; certFileTemplate: string };
  cadence: SimCadence;
  /** Agents connected per second while starting (a fleet does not reconnect all in one instant). */
  connectPerSecond: number;
  /** A connect slice still pending after this long fails the worker (default 60 s): a clear error, not a hang. */
  connectStallMs?: number;
  /**
   * Keep stack traces on errors (default off): nats.js builds two Error objects per JetStream
   * publish (its request's context and timeout) whose stacks the simulator never reads, and
   * capturing them cost about a fifth of a worker's CPU per message.
   */
  errorStacks?: boolean;
}

export type ParentMessage = { type: 'stop' } | { type: 'stats' };

export type WorkerMessage =
  | { type: 'ready'; agents: number; ports: number; connectMs: number }
  | { type: 'progress'; connected: number }
  | { type: 'stats'; counters: SimCounters; rpcCalls: number; cpuUserMs: number; cpuSystemMs: number; rssMb: number; loopDelayP99Ms: number; loopDelayMaxMs: number }
  | { type: 'error'; message: string };
