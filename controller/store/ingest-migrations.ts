/**
 * Schema changes of ingest and the host store, appended to the controller's migration list
 * (never edited once released).
 */

/** Host updates ordered by the controller's receive time; the agent's clock skew recorded (issue 12 item 2). */
export const HOSTS_TRUST_MIGRATION = `ALTER TABLE hosts ADD COLUMN last_hb_received_ms INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE hosts ADD COLUMN clock_skew_ms INTEGER NOT NULL DEFAULT 0;`;

/**
 * Events carry their own expiry (issue 20 item 20): high-volume samples (heartbeats, metric
 * samples, unchanged check results, log batches) are kept raw for `retention.samples`, the
 * rest for `retention.events`; the pruner deletes by this one index, which replaces the
 * received-time index (same size). Rows stored before the upgrade get the default 7 days.
 */
export const EVENTS_EXPIRY_MIGRATION = `ALTER TABLE events ADD COLUMN expires_ms INTEGER NOT NULL DEFAULT 0;
   UPDATE events SET expires_ms = received_ms + 604800000;
   DROP INDEX events_received;
   CREATE INDEX events_expires ON events (expires_ms);`;
