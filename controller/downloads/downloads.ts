import { createReadStream, existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpsError } from '../../shared/errors.js';

/** A download request that cannot be served: a bad name (400) or no such file (404). */
export class DownloadError extends OpsError {
  constructor(
    readonly status: 400 | 404,
    code: 'OPS_ERR_DOWNLOAD_NAME' | 'OPS_ERR_DOWNLOAD_NOT_FOUND' | 'OPS_ERR_INSTALL_SCRIPT',
    message: string,
  ) {
    super(code, message);
  }
}

export interface DownloadsOptions {
  /** Where the bundles and their .sha256 files are. */
  dir: string;
  /** The installer template (scripts/install.sh, or share/install.sh in a controller bundle). */
  script: string;
  /** Baked into install.sh as the controller address; absent: the request's own scheme and Host. */
  publicUrl?: string;
  /** Baked into install.sh as the agents' NATS servers. */
  natsServers: string[];
}

/** Names served: bundles and their sums only, one path segment, no dot-dot. */
const NAME = /^opsfleet-(agent|controller)-[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?-linux-(x64|arm64)\.tar\.gz(\.sha256)?$/;
const AGENT = /^opsfleet-agent-([0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?)-linux-x64\.tar\.gz$/;
/** What may be baked between single quotes in a shell script. */
const SHELL_SAFE = /^[A-Za-z0-9:/._\-[\]@%+ ]*$/;

/** The directory holding opsfleet's package.json above this module (repository or bundle root). */
export function programRoot(from = import.meta.url): string {
  let d = dirname(fileURLToPath(from));
  for (;;) {
    const p = join(d, 'package.json');
    if (existsSync(p)) {
      try {
        if ((JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'opsfleet') return d;
      } catch {
        /* not ours */
      }
    }
    const up = dirname(d);
    if (up === d) throw new Error(`package.json of opsfleet not found above ${from}`);
    d = up;
  }
}

/** The defaults when the config names no directory or script: a checkout's dist/release and scripts/install.sh, or a bundle's share/. */
export function defaultDownloadPaths(root = programRoot()): { dir: string; script: string } {
  const script = existsSync(join(root, 'share', 'install.sh')) ? join(root, 'share', 'install.sh') : join(root, 'scripts', 'install.sh');
  const dir = existsSync(join(root, 'BUILD.json')) ? join(root, 'share', 'downloads') : join(root, 'dist', 'release');
  return { dir, script };
}

/** Compares two versions x.y.z[-pre]: numeric parts, then a prerelease sorts before the release. */
export function compareVersions(a: string, b: string): number {
  const [an, ap] = a.split(/-(.*)/s) as [string, string | undefined];
  const [bn, bp] = b.split(/-(.*)/s) as [string, string | undefined];
  const x = an.split('.').map(Number);
  const y = bn.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  if (ap === bp) return 0;
  if (ap === undefined) return 1;
  if (bp === undefined) return -1;
  return ap < bp ? -1 : 1;
}

/**
 * The unauthenticated install endpoints' data: the bundles in one directory and the install
 * script with this controller's address, the newest agent version and the NATS servers baked in.
 * Reads the directory at each request, so a bundle dropped in is served without a restart.
 */
export class Downloads {
  constructor(private readonly o: DownloadsOptions) {}

  /** A servable file: its path (inside the directory after symlinks) and size, or a DownloadError. */
  file(name: string): { path: string; size: number } {
    if (!NAME.test(name)) throw new DownloadError(400, 'OPS_ERR_DOWNLOAD_NAME', `"${name.slice(0, 120)}" is not a bundle name (opsfleet-agent-<version>-linux-<arch>.tar.gz[.sha256])`);
    let dir: string;
    let path: string;
    try {
      dir = realpathSync(this.o.dir);
      path = realpathSync(join(dir, name));
    } catch {
      throw new DownloadError(404, 'OPS_ERR_DOWNLOAD_NOT_FOUND', `no ${name} in the downloads directory (downloads.dir)`);
    }
    // A link pointing out of the directory is refused like a missing file.
    if (!path.startsWith(dir + sep)) throw new DownloadError(404, 'OPS_ERR_DOWNLOAD_NOT_FOUND', `no ${name} in the downloads directory (downloads.dir)`);
    const st = statSync(path);
    if (!st.isFile()) throw new DownloadError(404, 'OPS_ERR_DOWNLOAD_NOT_FOUND', `no ${name} in the downloads directory (downloads.dir)`);
    return { path, size: st.size };
  }

  open(path: string) {
    return createReadStream(path);
  }

  /** The newest agent bundle version present with its .sha256, or undefined. */
  newestAgentVersion(): string | undefined {
    let names: string[];
    try {
      names = readdirSync(this.o.dir);
    } catch {
      return undefined;
    }
    const have = new Set(names);
    const versions = names.flatMap((n) => {
      const m = AGENT.exec(n);
      return m && have.has(`${n}.sha256`) ? [m[1]!] : [];
    });
    return versions.sort(compareVersions).at(-1);
  }

  /** install.sh for a caller that reached this controller at `requestBase` (scheme://host[:port]). */
  installScript(requestBase: string): string {
    let text: string;
    try {
      text = readFileSync(this.o.script, 'utf8');
    } catch (err) {
      throw new DownloadError(404, 'OPS_ERR_INSTALL_SCRIPT', `the install script ${this.o.script} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): set downloads.script`);
    }
    const url = (this.o.publicUrl ?? requestBase).replace(/\/+$/, '');
    const bake = (name: string, value: string) => {
      if (!SHELL_SAFE.test(value)) throw new DownloadError(400, 'OPS_ERR_INSTALL_SCRIPT', `${name} "${value.slice(0, 120)}" has characters that cannot be baked into a shell script`);
      const line = new RegExp(`^${name}=''$`, 'm');
      if (!line.test(text)) throw new DownloadError(404, 'OPS_ERR_INSTALL_SCRIPT', `the install script ${this.o.script} has no ${name}='' line to fill`);
      text = text.replace(line, `${name}='${value}'`);
    };
    bake('BAKED_CONTROLLER_URL', url);
    bake('BAKED_VERSION', this.newestAgentVersion() ?? '');
    bake('BAKED_NATS', this.o.natsServers.join(' '));
    return text;
  }
}
