import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { DirTargetConfig } from '../../config/backup.js';
import { OpsError } from '../../errors.js';
import type { BackupTarget, PutSource } from '../target.js';
import { expandPrefix, tmpSuffix } from './prefix.js';
import { expectSha, hashStream } from './verify.js';

/** A folder (local disk, NFS or USB mount): copy to a temp name, fsync, read back, rename. */
export class DirTarget implements BackupTarget {
  readonly type = 'dir';
  readonly where: string;
  private readonly base: string;

  constructor(cfg: DirTargetConfig, ctx: { host: string; set: string }) {
    this.base = join(cfg.path, expandPrefix(cfg.prefix, ctx));
    this.where = `dir ${this.base}`;
  }

  async put(name: string, src: PutSource, sha256: string): Promise<void> {
    const final = join(this.base, name);
    const tmp = `${final}${tmpSuffix()}`;
    try {
      await mkdir(dirname(final), { recursive: true });
      if ('file' in src) await copyFile(src.file, tmp);
      else await writeFile(tmp, src.data);
      const fh = await open(tmp, 'r+');
      await fh.sync().finally(() => fh.close());
      expectSha(name, this.where, sha256, (await hashStream(createReadStream(tmp))).sha256);
      await rename(tmp, final);
      const d = await open(dirname(final), 'r');
      await d.sync().finally(() => d.close());
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw wrap(err, this.where, name);
    }
  }

  async get(name: string): Promise<Readable> {
    const s = createReadStream(join(this.base, name));
    await new Promise<void>((resolve, reject) => {
      s.once('open', () => resolve());
      s.once('error', (err) => reject(wrap(err, this.where, name)));
    });
    return s;
  }

  async list(dir: string): Promise<string[]> {
    try {
      return (await readdir(join(this.base, dir))).map((n) => `${dir.replace(/\/?$/, '/')}${n}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw wrap(err, this.where, dir);
    }
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.base, name), { force: true });
  }

  async close(): Promise<void> {}
}

function wrap(err: unknown, where: string, name: string): OpsError {
  if (err instanceof OpsError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new OpsError('OPS_ERR_BACKUP_NOT_FOUND', `${where}: ${name} not found`, { cause: err });
  return new OpsError('OPS_ERR_BACKUP_TARGET', `${where}: ${name}: ${code ?? (err as Error).message}`, { cause: err, retryable: true });
}
