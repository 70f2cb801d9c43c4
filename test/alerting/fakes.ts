import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/**
 * Stand-ins for the SaaS ends of our receivers, on 127.0.0.1 port 0. They check requests the
 * way the platforms document them (independently of our code) and answer like them.
 */

export interface Recorded {
  at: number;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  raw: string;
  body: unknown;
  /** What the fake found wrong with the request (empty: valid). */
  problems: string[];
  answered: { status: number; body: unknown };
}

/** A scripted answer: HTTP status and JSON body; `undefined` body = the platform's success. */
export type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang';

abstract class FakeHttp {
  readonly requests: Recorded[] = [];
  /** Answers used in order for the next requests; then `fallbackAnswer`. */
  script: Answer[] = [];
  fallbackAnswer: Answer | undefined;
  private server: Server | undefined;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const u = new URL(req.url ?? '/', 'http://x');
        let body: unknown;
        const problems: string[] = [];
        try {
          body = JSON.parse(raw);
        } catch {
          problems.push('body is not JSON');
        }
        if (req.method !== 'POST') problems.push(`method ${req.method}`);
        if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) problems.push(`content-type ${req.headers['content-type']}`);
        const rec: Recorded = { at: Date.now(), path: u.pathname, query: u.searchParams, headers: req.headers, raw, body, problems, answered: { status: 0, body: undefined } };
        if (problems.length === 0) this.check(rec);
        this.requests.push(rec);
        const ans = this.answer(rec);
        if (ans === 'hang') return;
        rec.answered = { status: ans.status, body: ans.body };
        res.writeHead(ans.status, { 'content-type': 'application/json', ...(ans.headers ?? {}) });
        res.end(JSON.stringify(ans.body ?? {}));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Validates a request, pushing into rec.problems. */
  protected abstract check(rec: Recorded): void;
  protected abstract answer(rec: Recorded): { status: number; body: unknown; headers?: Record<string, string> } | 'hang';

  protected scripted(): Answer | undefined {
    return this.script.shift() ?? this.fallbackAnswer;
  }

  /** Requests accepted by the platform (valid and answered errcode 0 / 2xx). */
  abstract accepted(): Recorded[];

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/**
 * DingTalk custom robot: `POST /robot/send?access_token=T&timestamp=MS&sign=S` with
 * sign = urlencode(base64(HMAC-SHA256(secret, timestamp + "\n" + secret))), timestamp within an
 * hour; body {msgtype: markdown, markdown: {title, text}, at: {atMobiles, isAtAll}} of at most
 * 20,000 bytes. More than `limitPerMinute` messages in 60 s → errcode 130101.
 */
export class FakeDingtalk extends FakeHttp {
  constructor(
    readonly token: string,
    readonly secret: string,
    readonly limitPerMinute = 20,
    readonly windowMs = 60_000,
  ) {
    super();
  }

  get webhook(): string {
    return `${this.url}/robot/send?access_token=${this.token}`;
  }

  protected check(rec: Recorded): void {
    if (rec.path !== '/robot/send') rec.problems.push(`path ${rec.path}`);
    if (rec.query.get('access_token') !== this.token) rec.problems.push('bad access_token');
    const ts = rec.query.get('timestamp') ?? '';
    if (!/^\d{13}$/.test(ts) || Math.abs(Date.now() - Number(ts)) > 3_600_000) rec.problems.push(`bad timestamp ${ts}`);
    const expected = createHmac('sha256', this.secret).update(`${ts}\n${this.secret}`).digest('base64');
    // The query parser already URL-decoded the sign once, as DingTalk's server does.
    const got = rec.query.get('sign') ?? '';
    if (got.length !== expected.length || !timingSafeEqual(Buffer.from(got), Buffer.from(expected))) rec.problems.push('sign mismatch');
    const b = rec.body as Record<string, unknown>;
    if (Buffer.byteLength(rec.raw) > 20_000) rec.problems.push(`message of ${Buffer.byteLength(rec.raw)} bytes over 20000`);
    const keys = Object.keys(b).sort().join(',');
    if (keys !== 'at,markdown,msgtype') rec.problems.push(`top-level keys ${keys}`);
    if (b.msgtype !== 'markdown') rec.problems.push(`msgtype ${String(b.msgtype)}`);
    const md = b.markdown as Record<string, unknown> | undefined;
    if (!md || typeof md.title !== 'string' || typeof md.text !== 'string' || Object.keys(md).sort().join(',') !== 'text,title') rec.problems.push('markdown must be {title, text} strings');
    const at = b.at as Record<string, unknown> | undefined;
    const atKeys = at ? Object.keys(at).sort().join(',') : '';
    if (!at || !Array.isArray(at.atMobiles) || typeof at.isAtAll !== 'boolean' || (atKeys !== 'atMobiles,isAtAll' && atKeys !== 'atMobiles,atUserIds,isAtAll')) rec.problems.push('at must be {atMobiles: [], atUserIds?: [], isAtAll: bool}');
    else for (const m of [...(at.atMobiles as string[]), ...((at.atUserIds as string[] | undefined) ?? [])]) if (!String(md?.text ?? '').includes(`@${m}`)) rec.problems.push(`@${m} not in text`);
  }

  protected answer(rec: Recorded): { status: number; body: unknown } | 'hang' {
    if (rec.problems.includes('sign mismatch')) return { status: 200, body: { errcode: 310000, errmsg: 'sign not match' } };
    if (rec.problems.length) return { status: 200, body: { errcode: 300001, errmsg: rec.problems.join('; ') } };
    const recent = this.requests.filter((r) => r !== rec && r.at > rec.at - this.windowMs && r.problems.length === 0).length;
    if (recent >= this.limitPerMinute) return { status: 200, body: { errcode: 130101, errmsg: 'send too fast, exceed 20 times per minute' } };
    const s = this.scripted();
    if (s === 'hang') return 'hang';
    if (s) return { status: s.status, body: s.body ?? { errcode: 0, errmsg: 'ok' } };
    return { status: 200, body: { errcode: 0, errmsg: 'ok' } };
  }

  accepted(): Recorded[] {
    return this.requests.filter((r) => r.answered.status === 200 && (r.answered.body as { errcode?: number }).errcode === 0);
  }

  texts(): string[] {
    return this.accepted().map((r) => ((r.body as { markdown: { text: string } }).markdown.text));
  }
}

/**
 * WeCom group robot: `POST /cgi-bin/webhook/send?key=K`, body {msgtype: markdown, markdown:
 * {content ≤ 4096 bytes}} or {msgtype: text, text: {content ≤ 2048 bytes, mentioned_mobile_list}}.
 * More than `limitPerMinute` in 60 s → errcode 45009.
 */
export class FakeWecom extends FakeHttp {
  constructor(
    readonly key: string,
    readonly limitPerMinute = 20,
  ) {
    super();
  }

  get webhook(): string {
    return `${this.url}/cgi-bin/webhook/send?key=${this.key}`;
  }

  protected check(rec: Recorded): void {
    if (rec.path !== '/cgi-bin/webhook/send') rec.problems.push(`path ${rec.path}`);
    if (rec.query.get('key') !== this.key) rec.problems.push('bad key');
    const b = rec.body as Record<string, unknown>;
    if (b.msgtype === 'markdown') {
      const md = b.markdown as Record<string, unknown> | undefined;
      if (Object.keys(b).sort().join(',') !== 'markdown,msgtype' || !md || typeof md.content !== 'string') rec.problems.push('markdown must be {content}');
      else if (Buffer.byteLength(md.content) > 4096) rec.problems.push(`markdown content of ${Buffer.byteLength(md.content)} bytes over 4096`);
    } else if (b.msgtype === 'text') {
      const t = b.text as Record<string, unknown> | undefined;
      if (Object.keys(b).sort().join(',') !== 'msgtype,text' || !t || typeof t.content !== 'string') rec.problems.push('text must be {content, mentioned_mobile_list?, mentioned_list?}');
      else if (Buffer.byteLength(t.content) > 2048) rec.problems.push(`text content of ${Buffer.byteLength(t.content)} bytes over 2048`);
      if (t && t.mentioned_mobile_list !== undefined && !Array.isArray(t.mentioned_mobile_list)) rec.problems.push('mentioned_mobile_list must be a list');
      if (t && t.mentioned_list !== undefined && !Array.isArray(t.mentioned_list)) rec.problems.push('mentioned_list must be a list');
      if (t && Object.keys(t).some((k) => !['content', 'mentioned_mobile_list', 'mentioned_list'].includes(k))) rec.problems.push(`text keys ${Object.keys(t).join(',')}`);
    } else rec.problems.push(`msgtype ${String(b.msgtype)}`);
  }

  protected answer(rec: Recorded): { status: number; body: unknown } | 'hang' {
    if (rec.problems.length) return { status: 200, body: { errcode: 40008, errmsg: rec.problems.join('; ') } };
    const recent = this.requests.filter((r) => r !== rec && r.at > rec.at - 60_000 && r.problems.length === 0).length;
    if (recent >= this.limitPerMinute) return { status: 200, body: { errcode: 45009, errmsg: 'api freq out of limit' } };
    const s = this.scripted();
    if (s === 'hang') return 'hang';
    if (s) return { status: s.status, body: s.body ?? { errcode: 0, errmsg: 'ok' } };
    return { status: 200, body: { errcode: 0, errmsg: 'ok' } };
  }

  accepted(): Recorded[] {
    return this.requests.filter((r) => r.answered.status === 200 && (r.answered.body as { errcode?: number }).errcode === 0);
  }
}

/**
 * Feishu/Lark custom bot: `POST /open-apis/bot/v2/hook/T`, body {timestamp, sign, msg_type,
 * card|content} of at most 20 KB, with sign = base64(HMAC-SHA256(key = timestamp + "\n" + secret,
 * message = "")) and the timestamp (seconds) within an hour. Answers {code, msg, data}; more than
 * `limitPerMinute` in 60 s → code 11232; bad sign → 19021.
 */
export class FakeFeishu extends FakeHttp {
  constructor(
    readonly token: string,
    readonly secret: string,
    readonly limitPerMinute = 100,
  ) {
    super();
  }

  get webhook(): string {
    return `${this.url}/open-apis/bot/v2/hook/${this.token}`;
  }

  protected check(rec: Recorded): void {
    if (rec.path !== `/open-apis/bot/v2/hook/${this.token}`) rec.problems.push(`path ${rec.path}`);
    if (Buffer.byteLength(rec.raw) > 20_000) rec.problems.push(`body of ${Buffer.byteLength(rec.raw)} bytes over 20000`);
    const b = rec.body as Record<string, unknown>;
    const ts = String(b.timestamp ?? '');
    if (!/^\d{10}$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > 3600) rec.problems.push(`bad timestamp ${ts}`);
    const expected = createHmac('sha256', `${ts}\n${this.secret}`).update('').digest('base64');
    if (b.sign !== expected) rec.problems.push('sign mismatch');
    if (b.msg_type !== 'interactive') rec.problems.push(`msg_type ${String(b.msg_type)}`);
    const card = b.card as { header?: { title?: { tag?: string; content?: unknown } }; elements?: Array<{ tag?: string; text?: { tag?: string; content?: unknown } }> } | undefined;
    if (!card || card.header?.title?.tag !== 'plain_text' || typeof card.header.title.content !== 'string') rec.problems.push('card.header.title must be plain_text');
    if (!Array.isArray(card?.elements) || card.elements.length === 0 || card.elements.some((e) => e.tag === 'div' && (e.text?.tag !== 'lark_md' || typeof e.text.content !== 'string'))) rec.problems.push('card.elements must be lark_md divs');
  }

  protected answer(rec: Recorded): { status: number; body: unknown } | 'hang' {
    if (rec.problems.some((p) => p === 'sign mismatch' || p.startsWith('bad timestamp'))) return { status: 200, body: { code: 19021, msg: 'sign match fail or timestamp is not within one hour from current time', data: {} } };
    if (rec.problems.length) return { status: 200, body: { code: 9499, msg: rec.problems.join('; '), data: {} } };
    const recent = this.requests.filter((r) => r !== rec && r.at > rec.at - 60_000 && r.problems.length === 0).length;
    if (recent >= this.limitPerMinute) return { status: 200, body: { code: 11232, msg: 'frequency limited psm[lark.oapi.app_platform_runtime]appID[1]', data: {} } };
    const s = this.scripted();
    if (s === 'hang') return 'hang';
    if (s) return { status: s.status, body: s.body ?? { code: 0, msg: 'success', data: {} } };
    return { status: 200, body: { code: 0, msg: 'success', data: {} } };
  }

  accepted(): Recorded[] {
    return this.requests.filter((r) => r.answered.status === 200 && (r.answered.body as { code?: number }).code === 0);
  }

  contents(): string[] {
    return this.accepted().map((r) => (r.body as { card: { elements: Array<{ text: { content: string } }> } }).card.elements[0]!.text.content);
  }
}

/** A generic webhook endpoint verifying X-Opsfleet-Signature when given the secret. */
export class FakeWebhook extends FakeHttp {
  constructor(readonly secret?: string) {
    super();
  }

  protected check(rec: Recorded): void {
    if (!this.secret) return;
    const ts = String(rec.headers['x-opsfleet-timestamp'] ?? '');
    const sig = String(rec.headers['x-opsfleet-signature'] ?? '');
    const expected = `sha256=${createHmac('sha256', this.secret).update(`${ts}.${rec.raw}`).digest('hex')}`;
    if (sig !== expected) rec.problems.push('signature mismatch');
    if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) rec.problems.push('timestamp too old');
  }

  protected answer(rec: Recorded): { status: number; body: unknown } | 'hang' {
    if (rec.problems.length) return { status: 401, body: { error: rec.problems.join('; ') } };
    const s = this.scripted();
    if (s === 'hang') return 'hang';
    if (s) return { status: s.status, body: s.body ?? { ok: true }, ...(s.headers ? { headers: s.headers } : {}) };
    return { status: 200, body: { ok: true } };
  }

  accepted(): Recorded[] {
    return this.requests.filter((r) => r.answered.status >= 200 && r.answered.status < 300);
  }

  bodies<T = Record<string, unknown>>(): T[] {
    return this.accepted().map((r) => r.body as T);
  }
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  user: string;
}

/** A real SMTP server (smtp-server package) with AUTH on loopback, no TLS. */
export class FakeSmtp {
  readonly mails: ReceivedMail[] = [];
  private server: SMTPServer | undefined;
  port = 0;
  /** SMTP code to answer the next DATA commands with (e.g. 451), then accept. */
  rejectNext: number[] = [];

  constructor(
    readonly user = 'alerts',
    readonly pass = 'secret-pass',
  ) {}

  async start(): Promise<this> {
    this.server = new SMTPServer({
      secure: false,
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      logger: false,
      onAuth: (auth, _session, cb) => {
        if (auth.username === this.user && auth.password === this.pass) cb(null, { user: auth.username });
        else cb(new Error('Invalid username or password'));
      },
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const code = this.rejectNext.shift();
          if (code) {
            const err = new Error('try again later') as Error & { responseCode: number };
            err.responseCode = code;
            return cb(err);
          }
          this.mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
            user: String(session.user ?? ''),
          });
          cb();
        });
      },
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server as unknown as { server: { address(): AddressInfo } }).server.address().port;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
