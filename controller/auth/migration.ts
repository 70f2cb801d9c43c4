/** API tokens: only the SHA-256 of each secret is kept; `id` is the public part of the secret. */
export const TOKENS_MIGRATION = `CREATE TABLE api_tokens (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     role TEXT NOT NULL,
     hash TEXT NOT NULL,
     playbooks TEXT,
     target TEXT,
     created_by TEXT NOT NULL,
     created_ms INTEGER NOT NULL,
     expires_ms INTEGER,
     revoked_ms INTEGER,
     last_used_ms INTEGER
   );`;
