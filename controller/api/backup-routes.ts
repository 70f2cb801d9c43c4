import type { BackupCatalogue } from '../backups/catalogue.js';
import type { HttpServer } from './http-server.js';

/** Backup catalogue API (v1): snapshots reported by agents and each set's last outcome. */
export function registerBackupRoutes(http: HttpServer, catalogue: BackupCatalogue): void {
  http.route('GET', '/api/v1/backups', ({ query }) =>
    catalogue.list({ host: query.get('host') ?? undefined, set: query.get('set') ?? undefined, includePruned: query.get('all') === 'true' }),
  );
  http.route('GET', '/api/v1/backups/sets', ({ query }) => catalogue.sets({ host: query.get('host') ?? undefined, set: query.get('set') ?? undefined }));
}
