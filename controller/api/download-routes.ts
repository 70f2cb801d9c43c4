import { pipeline } from 'node:stream/promises';
import { Downloads, DownloadError } from '../downloads/downloads.js';
import { HttpError, type HttpServer } from './http-server.js';

/** Host header values accepted when the script bakes the request's own address. */
const HOST = /^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$/;

/**
 * The one-line install: `GET /install.sh` (the installer with this controller's address baked in)
 * and `GET /downloads/<bundle>` (bundles and their .sha256 files). Open routes: a host that runs
 * the installer has no credential yet; what authorises it is the enrollment token it then sends,
 * and a tampered download is caught by the sha256 (docs/api-auth.md).
 */
export function registerDownloadRoutes(http: HttpServer, downloads: Downloads, o: { tls: boolean }): void {
  const asHttp = (err: unknown): never => {
    if (err instanceof DownloadError) throw new HttpError(err.status, err.code, err.message);
    throw err;
  };

  http.route('GET', '/install.sh', ({ req, res }) => {
    const host = req.headers.host ?? '';
    if (!HOST.test(host)) throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `the Host header "${host.slice(0, 100)}" is not host[:port]`);
    let text: string;
    try {
      text = downloads.installScript(`${o.tls ? 'https' : 'http'}://${host}`);
    } catch (err) {
      return asHttp(err);
    }
    res.writeHead(200, { 'content-type': 'text/x-shellscript; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' }).end(text);
  });

  http.route('GET', '/downloads/:file', async ({ params, res }) => {
    let f: { path: string; size: number };
    try {
      f = downloads.file(params.file!);
    } catch (err) {
      return asHttp(err);
    }
    const type = f.path.endsWith('.sha256') ? 'text/plain; charset=utf-8' : 'application/gzip';
    res.writeHead(200, { 'content-type': type, 'content-length': f.size, 'cache-control': 'no-cache' });
    await pipeline(downloads.open(f.path), res);
  });
}
