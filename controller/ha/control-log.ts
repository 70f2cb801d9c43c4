/**
 * Control-plane changes shared between controllers (docs/scaling.md, "Standby controller"). The
 * controller that makes a change (the leader: the standby forwards mutations to it) applies it to
 * its own SQLite and publishes a record; every other controller applies it idempotently by id.
 * With HA off the log is `NoControlLog`: publishing does nothing.
 */
export interface ControlRecord<B = unknown> {
  /** Unique per change (idempotency key). */
  id: string;
  /** `ha.id` of the controller that made the change. */
  origin: string;
  /** What changed, e.g. `token.create`, `silence.expire`, `notified`. */
  kind: string;
  /** When the change was made (ms since epoch). */
  ts: number;
  body: B;
}

export interface ControlLog {
  /** Publishes a change this controller has applied locally; resolves once the stream has stored it. */
  publish<B>(kind: string, body: B): Promise<void>;
  /** Registers how to apply records of one kind made by OTHER controllers. Register before start(). */
  on<B>(kind: string, apply: (rec: ControlRecord<B>) => void | Promise<void>): void;
}

export const NoControlLog: ControlLog = {
  async publish(): Promise<void> {},
  on(): void {},
};
