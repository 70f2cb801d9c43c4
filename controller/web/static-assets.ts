import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import { HttpError } from '../api/http-error.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Where `npm run build` (scripts/build-ui.mjs) wrote the dashboard: beside the controller bundle
 * (`dist/web/`) when running compiled, `<repo>/dist/web/` when running from the sources.
 */
export function defaultAssetDirs(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  return [join(here, 'web'), join(here, '..', '..', 'dist', 'web')];
}

/**
 * The dashboard's static files, read from disk on each request (three small files; the
 * browser revalidates with the ETag). The page is strict about what it loads: no CDN, no
 * inline script, so the Content-Security-Policy allows only this origin.
 */
export class StaticAssets {
  constructor(private readonly dirs: string[] = defaultAssetDirs()) {}

  dir(): string | undefined {
    return this.dirs.find((d) => existsSync(join(d, 'index.html')));
  }

  serve(res: ServerResponse, name: string, ifNoneMatch: string | undefined): void {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new HttpError(404, 'OPS_ERR_DASHBOARD_ASSET', `no dashboard file "${name.slice(0, 100)}"`);
    const dir = this.dir();
    if (!dir) throw new HttpError(404, 'OPS_ERR_DASHBOARD_NOT_BUILT', `the dashboard is not built (looked in ${this.dirs.join(', ')}): run npm run build`);
    const file = join(dir, name);
    let st;
    try {
      st = statSync(file);
    } catch {
      throw new HttpError(404, 'OPS_ERR_DASHBOARD_ASSET', `no dashboard file "${name}"`);
    }
    const etag = `"${st.size.toString(36)}-${Math.floor(st.mtimeMs).toString(36)}"`;
    const ext = name.slice(name.lastIndexOf('.'));
    const headers: Record<string, string> = {
      etag,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'content-type': TYPES[ext] ?? 'application/octet-stream',
    };
    if (ext === '.html') {
      headers['content-security-policy'] = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
      headers['x-frame-options'] = 'DENY';
      headers['referrer-policy'] = 'no-referrer';
    }
    if (ifNoneMatch === etag) {
      res.writeHead(304, headers).end();
      return;
    }
    const body = readFileSync(file);
    res.writeHead(200, { ...headers, 'content-length': String(body.length) }).end(body);
  }
}
