import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3TargetConfig } from '../../config/backup.js';
import { OpsError } from '../../errors.js';
import type { BackupTarget, PutSource } from '../target.js';
import { expandPrefix, tmpSuffix } from './prefix.js';
import { expectSha, hashStream } from './verify.js';

/**
 * Any S3-compatible store. An archive is uploaded (multipart past part_size_mb) to a temporary
 * key, read back and checked against its sha256, then copied to its final key and the
 * temporary key deleted: a listing never shows a partial or corrupt object.
 */
export class S3Target implements BackupTarget {
  readonly type = 's3';
  readonly where: string;
  private readonly client: S3Client;
  private readonly prefix: string;

  constructor(
    private readonly cfg: S3TargetConfig,
    ctx: { host: string; set: string },
  ) {
    this.prefix = expandPrefix(cfg.prefix, ctx);
    this.where = `s3 ${cfg.endpoint ?? 'aws'}/${cfg.bucket}/${this.prefix}`;
    this.client = new S3Client({
      region: cfg.region,
      forcePathStyle: cfg.force_path_style,
      maxAttempts: 1, // our uploader retries with its own backoff and alerting
      ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
      ...(cfg.access_key_id && cfg.secret_access_key ? { credentials: { accessKeyId: cfg.access_key_id, secretAccessKey: cfg.secret_access_key } } : {}),
      // S3-compatible servers (MinIO, s3rver) store aws-chunked framing as data otherwise.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private key(name: string): string {
    return this.prefix ? `${this.prefix}/${name}` : name;
  }

  async put(name: string, src: PutSource, sha256: string, signal?: AbortSignal): Promise<void> {
    const final = this.key(name);
    const tmp = `${this.prefix ? `${this.prefix}/` : ''}.tmp/${name.replaceAll('/', '_')}${tmpSuffix()}`;
    try {
      const up = new Upload({
        client: this.client,
        params: { Bucket: this.cfg.bucket, Key: tmp, Body: 'file' in src ? createReadStream(src.file) : src.data, Metadata: { sha256 } },
        partSize: this.cfg.part_size_mb * 1024 * 1024,
        queueSize: 2,
        leavePartsOnError: false,
      });
      const onAbort = () => void up.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await up.done();
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.cfg.bucket, Key: tmp }), { abortSignal: signal });
      expectSha(name, this.where, sha256, (await hashStream(got.Body as Readable)).sha256);
      await this.client.send(new CopyObjectCommand({ Bucket: this.cfg.bucket, Key: final, CopySource: `${this.cfg.bucket}/${encodeURIComponent(tmp).replaceAll('%2F', '/')}`, MetadataDirective: 'COPY' }), { abortSignal: signal });
    } catch (err) {
      throw wrap(err, this.where, name);
    } finally {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: tmp })).catch(() => undefined);
    }
  }

  async get(name: string): Promise<Readable> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.cfg.bucket, Key: this.key(name) }));
      return r.Body as Readable;
    } catch (err) {
      throw wrap(err, this.where, name);
    }
  }

  async list(dir: string): Promise<string[]> {
    const out: string[] = [];
    const p = this.key(dir.replace(/\/?$/, '/'));
    let token: string | undefined;
    try {
      do {
        const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.cfg.bucket, Prefix: p, Delimiter: '/', ContinuationToken: token }));
        for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key.slice(this.prefix ? this.prefix.length + 1 : 0));
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw wrap(err, this.where, dir);
    }
    return out;
  }

  async remove(name: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: this.key(name) }));
    } catch (err) {
      throw wrap(err, this.where, name);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function wrap(err: unknown, where: string, name: string): OpsError {
  if (err instanceof OpsError) return err;
  if (err instanceof S3ServiceException) {
    if (err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404) return new OpsError('OPS_ERR_BACKUP_NOT_FOUND', `${where}: ${name} not found (${err.name})`, { cause: err });
    const status = err.$metadata.httpStatusCode ?? 0;
    return new OpsError('OPS_ERR_BACKUP_TARGET', `${where}: ${name}: ${err.name} (HTTP ${status})`, { cause: err, retryable: status === 0 || status >= 500 || status === 429 });
  }
  const e = err as NodeJS.ErrnoException;
  return new OpsError('OPS_ERR_BACKUP_TARGET', `${where}: ${name}: ${e.code ?? e.message}`, { cause: err, retryable: true });
}
