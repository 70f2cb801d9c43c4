/**
 * Schema changes of ingest and the host store, appended to the controller's migration list
 * (never edited once released).
 */

/** Host updates ordered by the controller's receive time; the agent's clock skew recorded (issue 12 item 2). */
export const HOSTS_TRUST_MIGRATION = `ALTER TABLE hosts ADD COLUMN last_hb_received_ms INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE hosts ADD COLUMN clock_skew_ms INTEGER NOT NULL DEFAULT 0;`;
