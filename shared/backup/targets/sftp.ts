import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import SftpClient from 'ssh2-sftp-client';
import type { SftpTargetConfig } from '../../config/backup.js';
import { OpsError } from '../../errors.js';
import type { BackupTarget, PutSource } from '../target.js';
import { expandPrefix, tmpSuffix } from './prefix.js';
import { expectSha, hashStream } from './verify.js';

/**
 * An SFTP server. One connection is opened per operation batch and closed after it (backups
 * are minutes apart; a kept-open connection would only go stale). Upload to a temp name, read
 * it back for the checksum, then rename (posix-rename when the server offers it).
 */
export class SftpTarget implements BackupTarget {
  readonly type = 'sftp';
  readonly where: string;
  private readonly base: string;

  constructor(
    private readonly cfg: SftpTargetConfig,
    ctx: { host: string; set: string },
  ) {
    this.base = posix.join(cfg.path, expandPrefix(cfg.prefix, ctx));
    this.where = `sftp ${cfg.username}@${cfg.host}:${cfg.port}${this.base}`;
  }

  /**
   * One place builds the connection options, so every operation (restores included) checks
   * the pinned host key: a copy that forgot host_fingerprint would restore from any server.
   */
  private connectOptions(): SftpClient.ConnectOptions {
    const pin = this.cfg.host_fingerprint?.replace(/^SHA256:/, '').replace(/=+$/, '');
    return {
      host: this.cfg.host,
      port: this.cfg.port,
      username: this.cfg.username,
      readyTimeout: this.cfg.timeout,
      ...(this.cfg.private_key_path ? { privateKey: readFileSync(this.cfg.private_key_path) } : {}),
      ...(this.cfg.password ? { password: this.cfg.password } : {}),
      ...(pin ? { hostVerifier: (key: Buffer) => createHash('sha256').update(key).digest('base64').replace(/=+$/, '') === pin } : {}),
    };
  }

  private async with<T>(name: string, fn: (c: SftpClient) => Promise<T>): Promise<T> {
    const c = new SftpClient();
    try {
      await c.connect(this.connectOptions());
      return await fn(c);
    } catch (err) {
      throw wrap(err, this.where, name);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  async put(name: string, src: PutSource, sha256: string): Promise<void> {
    const final = posix.join(this.base, name);
    const tmp = `${final}${tmpSuffix()}`;
    await this.with(name, async (c) => {
      await c.mkdir(posix.dirname(final), true);
      try {
        await c.put('file' in src ? src.file : src.data, tmp);
        expectSha(name, this.where, sha256, (await hashStream(c.createReadStream(tmp) as unknown as Readable)).sha256);
        await c.posixRename(tmp, final).catch(async () => {
          await c.delete(final, true);
          await c.rename(tmp, final);
        });
      } catch (err) {
        await c.delete(tmp, true).catch(() => undefined);
        throw err;
      }
    });
  }

  async get(name: string): Promise<Readable> {
    // Downloaded whole into memory per call would not scale; stream it and close on end.
    const c = new SftpClient();
    try {
      await c.connect(this.connectOptions());
      const path = posix.join(this.base, name);
      if (!(await c.exists(path))) throw new OpsError('OPS_ERR_BACKUP_NOT_FOUND', `${this.where}: ${name} not found`);
      const s = c.createReadStream(path) as unknown as Readable;
      s.once('close', () => void c.end().catch(() => undefined));
      s.once('error', () => void c.end().catch(() => undefined));
      return s;
    } catch (err) {
      await c.end().catch(() => undefined);
      throw wrap(err, this.where, name);
    }
  }

  async list(dir: string): Promise<string[]> {
    return this.with(dir, async (c) => {
      const path = posix.join(this.base, dir);
      if (!(await c.exists(path))) return [];
      return (await c.list(path)).filter((f) => f.type === '-').map((f) => `${dir.replace(/\/?$/, '/')}${f.name}`);
    });
  }

  async remove(name: string): Promise<void> {
    await this.with(name, async (c) => {
      await c.delete(posix.join(this.base, name), true);
    });
  }

  async close(): Promise<void> {}
}

function wrap(err: unknown, where: string, name: string): OpsError {
  if (err instanceof OpsError) return err;
  const e = err as NodeJS.ErrnoException & { level?: string };
  const auth = e.level === 'client-authentication';
  return new OpsError(auth ? 'OPS_ERR_BACKUP_AUTH' : 'OPS_ERR_BACKUP_TARGET', `${where}: ${name}: ${e.message}`, { cause: err, retryable: !auth });
}
