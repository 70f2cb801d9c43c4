/**
 * gRPC deadlines of the operator's backup actions (`opsctl backup now|verify|restore`).
 * Generous: a snapshot retries its upload with backoff, verify --read-data and restore stream
 * every archive of the chain. The operator leaving (Ctrl-C closes the HTTP connection) cancels
 * the call sooner. opsctl waits this long plus a margin.
 */
export const BACKUP_DEADLINES_MS = { now: 30 * 60_000, verify: 2 * 3_600_000, restore: 6 * 3_600_000 } as const;
