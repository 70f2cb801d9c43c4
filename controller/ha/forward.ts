import { createHmac, timingSafeEqual } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from '../../shared/logger.js';
import type { Principal } from '../auth/principal.js';
import type { Leadership } from './leadership.js';

/** Set by a standby on a request it forwards: `<id>;<ms>;<principal b64url>;<hmac b64url>`. */
export const FORWARDED_HEADER = 'x-opsfleet-forwarded';
/** Set on every answer that came through a standby: the leader's id. */
export const LEADER_HEADER = 'x-opsfleet-leader';
/** A forwarded request older than this (clock skew plus transit) is refused. */
const MAX_AGE_MS = 60_000;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'host', FORWARDED_HEADER]);

/** What a forward decision answers with when it cannot forward. */
export class ForwardRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function sign(secret: Buffer, id: string, ts: string, method: string, url: string, who: string): string {
  return createHmac('sha256', secret).update(`${id}\n${ts}\n${method}\n${url}\n${who}`).digest('base64url');
}

/**
 * Standby → leader forwarding of mutations (docs/scaling.md, "Standby controller"). The
 * standby authenticates the caller itself (token or dashboard session, CSRF included), then
 * passes the request on unchanged with the caller's principal signed by a secret both
 * controllers derive from the fleet CA they share; the leader takes that principal instead of
 * authenticating again (dashboard sessions live in one controller's memory). The header also
 * guards against loops: a forwarded request reaching a controller that does not lead is refused.
 */
export class Forwarder {
  private readonly log: Logger;
  constructor(
    private readonly d: {
      leadership: Leadership;
      /** The shared secret (undefined while the fleet CA is still being created). */
      secret: () => Buffer | undefined;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.log = d.logger.child({ component: 'ha.forward' });
  }

  /**
   * The principal a standby signed for this request, undefined when it was not forwarded.
   * Throws ForwardRefused when the header is there but not acceptable.
   */
  forwardedPrincipal(req: IncomingMessage): Principal | undefined {
    const h = req.headers[FORWARDED_HEADER];
    if (h === undefined) return undefined;
    const [id = '', ts = '', who = '', sig = ''] = String(h).split(';');
    if (!this.d.leadership.isLeader()) {
      throw new ForwardRefused(503, 'OPS_ERR_NO_LEADER', `request forwarded by controller ${id} to ${this.d.leadership.id}, which does not lead either (the lease just moved, or no controller leads); retry in a few seconds`, { 'retry-after': '2' });
    }
    const secret = this.d.secret();
    const now = (this.d.now ?? Date.now)();
    const want = secret ? Buffer.from(sign(secret, id, ts, req.method ?? '', req.url ?? '', who)) : undefined;
    const got = Buffer.from(sig);
    if (!want || want.length !== got.length || !timingSafeEqual(want, got)) {
      throw new ForwardRefused(401, 'OPS_ERR_AUTH_FORWARD', `request forwarded by controller "${id}" carries a signature this controller cannot verify: both controllers need the same fleet CA (pki.ca_cert/ca_key or <data_dir>/pki from one controller's backup)`);
    }
    if (!(Math.abs(now - Number(ts)) <= MAX_AGE_MS)) {
      throw new ForwardRefused(401, 'OPS_ERR_AUTH_FORWARD', `request forwarded by controller "${id}" is stamped ${ts}, more than ${MAX_AGE_MS / 1000} s from this controller's clock: check both machines' time`);
    }
    try {
      return JSON.parse(Buffer.from(who, 'base64url').toString('utf8')) as Principal;
    } catch {
      throw new ForwardRefused(400, 'OPS_ERR_AUTH_FORWARD', `request forwarded by controller "${id}" has an unreadable principal`);
    }
  }

  /**
   * Called for a mutating request this controller authenticated: false when it leads (answer
   * here); else the request is passed to the leader (or refused with 503 when none is known)
   * and true is returned.
   */
  forward(req: IncomingMessage, res: ServerResponse, principal: Principal): boolean {
    const l = this.d.leadership;
    if (l.isLeader()) return false;
    const leader = l.leader();
    if (!leader?.url) {
      throw new ForwardRefused(503, 'OPS_ERR_NO_LEADER', `controller ${l.id} is a standby and no controller holds the leader lease right now (failover in progress, or NATS unreachable): changes are refused until one leads; retry in a few seconds`, { 'retry-after': '2' });
    }
    const secret = this.d.secret();
    if (!secret) throw new ForwardRefused(503, 'OPS_ERR_NO_LEADER', 'this standby cannot forward yet: its fleet CA is still being created');
    const ts = String((this.d.now ?? Date.now)());
    const who = Buffer.from(JSON.stringify(principal)).toString('base64url');
    const headers: IncomingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
    const prior = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = [prior, req.socket.remoteAddress].filter(Boolean).join(', ');
    headers[FORWARDED_HEADER] = `${l.id};${ts};${who};${sign(secret, l.id, ts, req.method ?? '', req.url ?? '', who)}`;
    const target = new URL(req.url ?? '/', leader.url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const out = send(target, { method: req.method, headers: headers as Record<string, string | string[]> }, (up) => {
      const h: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) h[k] = v;
      h[LEADER_HEADER] = leader.id;
      res.writeHead(up.statusCode ?? 502, h);
      up.pipe(res);
      up.on('error', () => res.destroy());
    });
    out.setTimeout(10 * 60_000, () => out.destroy(new Error('no answer from the leader for 10 minutes')));
    out.on('error', (err) => {
      this.log.warn({ err, leader: leader.url, path: target.pathname }, 'forwarding to the leader failed');
      if (res.headersSent) return void res.destroy();
      const body = JSON.stringify({ error: { code: 'OPS_ERR_LEADER_UNREACHABLE', message: `this controller is a standby and the leader ${leader.id} at ${leader.url} did not answer: ${err.message}; retry in a few seconds` } });
      res.writeHead(502, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'retry-after': '2' });
      res.end(body);
    });
    res.on('close', () => {
      if (!out.writableFinished || !res.writableFinished) out.destroy();
    });
    req.pipe(out);
    this.log.debug({ method: req.method, path: target.pathname, leader: leader.id }, 'mutation forwarded to the leader');
    return true;
  }
}
