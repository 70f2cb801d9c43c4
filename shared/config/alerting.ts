import { z } from 'zod';
import { duration } from '../duration.js';
import { safeRegexProblem } from '../regex.js';
import { MONTHS, parseSpan, WEEKDAYS } from '../time-span.js';

/** Label names as Prometheus/Alertmanager allow them. */
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const labelName = z.string().regex(LABEL_NAME, 'expected a label name like "host" or "alert_name"');

/**
 * A regex label value; compiled here with the engine the matchers use (RE2, linear time), so a
 * pattern it refuses is a config error with its position, never a surprise at run time.
 */
const regexValue = z.string().superRefine((s, ctx) => {
  const problem = safeRegexProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const rateLimit = (count: number, per: string) =>
  z
    .object({
      /** Messages allowed per window; beyond it pending notifications merge into one digest. */
      count: z.number().int().min(1).max(10_000).prefault(count),
      per: duration({ min: 1 }).prefault(per),
    })
    .strict()
    .prefault({});

/** Overrides of the channel's default message; placeholders like {{alertname}}, {{labels.x}}. */
const templateSchema = z
  .object({
    title: z.string().min(1).optional(),
    alert: z.string().min(1).optional(),
  })
  .strict();

const common = {
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a name of letters, digits, "_", "." or "-"'),
  timeout: duration({ min: 1 }).prefault('10s'),
  send_resolved: z.boolean().prefault(true),
  template: templateSchema.optional(),
  /** A Liquid file rendering one alert's block (see docs/alerting.md); read at start and on SIGHUP. */
  template_file: z.string().min(1).optional(),
  /** Words of the default message: zh, en, or both side by side. */
  language: z.enum(['zh', 'en', 'both']).prefault('both'),
};

const httpUrl = z.string().regex(/^https?:\/\/.+/, 'expected an http(s) URL');

const dingtalkSchema = z
  .object({
    ...common,
    type: z.literal('dingtalk'),
    webhook: httpUrl,
    /** The robot's "加签" secret (SEC…); requests are signed when set. */
    secret: z.string().min(1).optional(),
    at_mobiles: z.array(z.string()).prefault([]),
    at_all: z.boolean().prefault(false),
    /** DingTalk allows 20/min per robot; exceeding it bans the robot for 10 minutes. */
    rate_limit: rateLimit(18, '1m'),
    max_bytes: z.number().int().min(256).max(20_000).prefault(20_000),
    /** How long the robot is left alone after errcode 130101 (DingTalk's ban lasts 10 minutes). */
    ban_pause: duration().prefault('10m'),
  })
  .strict();

const wecomSchema = z
  .object({
    ...common,
    type: z.literal('wecom'),
    webhook: httpUrl,
    msgtype: z.enum(['markdown', 'text']).prefault('markdown'),
    mentioned_mobile_list: z.array(z.string()).prefault([]),
    rate_limit: rateLimit(18, '1m'),
    /** WeCom: markdown 4096 bytes, text 2048 bytes; the smaller of this and the channel's limit applies. */
    max_bytes: z.number().int().min(256).max(4096).prefault(4096),
    /** Pause after WeCom's frequency-limit answer (errcode 45009). */
    ban_pause: duration().prefault('1m'),
  })
  .strict();

const feishuSchema = z
  .object({
    ...common,
    type: z.literal('feishu'),
    /** https://open.feishu.cn/open-apis/bot/v2/hook/… (Lark: open.larksuite.com). */
    webhook: httpUrl,
    /** The bot's signature secret; requests carry timestamp and sign when set. */
    secret: z.string().min(1).optional(),
    /** Feishu allows 100/min and 5/s per bot. */
    rate_limit: rateLimit(90, '1m'),
    /** Feishu's custom bots take request bodies of at most 20 KB. */
    max_bytes: z.number().int().min(1024).max(20_000).prefault(20_000),
    /** Pause after Feishu's frequency-limit answer (code 11232). */
    ban_pause: duration().prefault('1m'),
  })
  .strict();

const emailSchema = z
  .object({
    ...common,
    type: z.literal('email'),
    smtp: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535).prefault(465),
        /** true: TLS from the first byte (465); false: STARTTLS when offered (587/25). */
        secure: z.boolean().prefault(true),
        user: z.string().optional(),
        pass: z.string().optional(),
        /** Set false only for test servers with self-signed certificates. */
        tls_reject_unauthorized: z.boolean().prefault(true),
      })
      .strict()
      .refine((s) => (s.user === undefined) === (s.pass === undefined), { message: 'user and pass go together', path: ['user'] }),
    from: z.string().min(3),
    to: z.array(z.string().min(3)).min(1, 'at least one recipient is required'),
    rate_limit: rateLimit(30, '1m'),
    max_bytes: z.number().int().min(256).prefault(200_000),
  })
  .strict();

const webhookSchema = z
  .object({
    ...common,
    type: z.literal('webhook'),
    url: httpUrl,
    /** When set, requests carry X-Opsfleet-Signature (HMAC-SHA256 of timestamp + "." + body). */
    hmac_secret: z.string().min(1).optional(),
    headers: z.record(z.string(), z.string()).prefault({}),
    rate_limit: rateLimit(60, '1m'),
    /** At least 512: the body's fixed fields (counts, title, time) take ~300 bytes before any alert. */
    max_bytes: z.number().int().min(512).prefault(1_000_000),
  })
  .strict();

export const receiverSchema = z.discriminatedUnion('type', [dingtalkSchema, wecomSchema, feishuSchema, emailSchema, webhookSchema]);
export type ReceiverConfig = z.output<typeof receiverSchema>;
export type DingtalkConfig = z.output<typeof dingtalkSchema>;
export type WecomConfig = z.output<typeof wecomSchema>;
export type FeishuConfig = z.output<typeof feishuSchema>;
export type EmailConfig = z.output<typeof emailSchema>;
export type WebhookConfig = z.output<typeof webhookSchema>;

/** An Alertmanager-style matcher string: `name=value`, `name!=value`, `name=~regex`, `name!~regex`. */
const matcherString = z.string().superRefine((s, ctx) => {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/.exec(s);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `expected a matcher like host=web-01 or alertname=~"Disk.*", got ${JSON.stringify(s)}` });
    return;
  }
  if (m[2]!.includes('~')) {
    let v = m[3]!;
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    const problem = safeRegexProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }
});

/** Who a robot message @mentions: rendered as each robot writes it (DingTalk atMobiles/atUserIds, WeCom mentioned lists, Feishu <at>). */
const atSchema = z
  .object({
    mobiles: z.array(z.string().min(1)).prefault([]),
    user_ids: z.array(z.string().min(1)).prefault([]),
    all: z.boolean().prefault(false),
  })
  .strict();
export type AtConfig = z.output<typeof atSchema>;

/**
 * One node of the routing tree (Alertmanager's semantics): an alert enters a node when its
 * matchers match, then tries the child routes in order; the first matching child takes it unless
 * that child says `continue`; a node none of whose children match takes the alert itself.
 * Children inherit receivers, group_by and timings. Today's flat list is a tree of depth one.
 */
const routeFields = {
    /** Every label must equal; absent (with match_re and matchers) = catch-all. */
    match: z.record(labelName, z.string()).prefault({}),
    match_re: z.record(labelName, regexValue).prefault({}),
    /** Alertmanager's matcher strings, e.g. ['severity=~"critical|error"', 'env!=dev']. */
    matchers: z.array(matcherString).prefault([]),
    /** The route's receivers; a child route without them uses its parent's. */
    receivers: z.array(z.string()).optional(),
    /** Keep evaluating later routes after this one matched. */
    continue: z.boolean().prefault(false),
    group_by: z.array(labelName).optional(),
    group_wait: duration().optional(),
    group_interval: duration({ min: 1 }).optional(),
    repeat_interval: duration({ min: 1 }).optional(),
    /** Names from `time_intervals`: no notifications while one of them is active. */
    mute_time_intervals: z.array(z.string()).prefault([]),
    /** Names from `time_intervals`: notifications only while one of them is active. */
    active_time_intervals: z.array(z.string()).prefault([]),
    /** @mentions for every notification of this route… */
    at: atSchema.optional(),
    /** …and per severity label value, e.g. { critical: { all: true } }. */
    at_by_severity: z.record(z.string(), atSchema).prefault({}),
};
/** Routes nest at most this deep (the deepest level cannot have `routes`). */
export const MAX_ROUTE_DEPTH = 6;
const leafRoute = z.object(routeFields).strict();
const nestRoute = <C extends z.ZodType>(child: C) => z.object({ ...routeFields, routes: z.array(child).prefault([]) }).strict();
const routeSchema = nestRoute(nestRoute(nestRoute(nestRoute(nestRoute(leafRoute)))));
type RouteFields = z.output<typeof leafRoute>;
/** One route of the tree, at any depth. */
export interface RouteConfig extends RouteFields {
  routes?: RouteConfig[];
}

const inhibitSchema = z
  .object({
    source: z.record(labelName, z.string()).prefault({}),
    source_re: z.record(labelName, regexValue).prefault({}),
    target: z.record(labelName, z.string()).prefault({}),
    target_re: z.record(labelName, regexValue).prefault({}),
    /** Labels whose values must be the same on source and target. */
    equal: z.array(labelName).prefault([]),
  })
  .strict();
export type InhibitConfig = z.output<typeof inhibitSchema>;

const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'expected a time like "09:00" (24:00 allowed as an end)');
const span = (what: string, names: readonly string[] | undefined, base: number, check: (n: number) => boolean) =>
  z.string().superRefine((s, ctx) => {
    const r = parseSpan(s, names, base);
    if (!r || !check(r.start) || !check(r.end)) ctx.addIssue({ code: 'custom', message: `expected ${what}, got ${JSON.stringify(s)}` });
  });
const timezone = z.string().superRefine((tz, ctx) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    ctx.addIssue({ code: 'custom', message: `unknown timezone ${JSON.stringify(tz)} (expected an IANA name like "Asia/Shanghai" or "UTC")` });
  }
});
const timeRangeSchema = z
  .object({
    times: z.array(z.object({ start_time: clock, end_time: clock }).strict()).optional(),
    weekdays: z.array(span('a weekday or range like "monday:friday"', WEEKDAYS, 0, (n) => n >= 0 && n <= 6)).optional(),
    days_of_month: z.array(span('a day of the month or range like "1:5" or "-1" (last day)', undefined, 0, (n) => n !== 0 && n >= -31 && n <= 31)).optional(),
    months: z.array(span('a month or range like "january:march" or "1:3"', MONTHS, 1, (n) => n >= 1 && n <= 12)).optional(),
    years: z.array(span('a year or range like "2026:2027"', undefined, 0, (n) => n >= 1970 && n <= 9999)).optional(),
    /** IANA timezone the range is read in (default UTC). */
    location: timezone.optional(),
  })
  .strict();
export type TimeRangeConfig = z.output<typeof timeRangeSchema>;
const timeIntervalSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a name of letters, digits, "_", "." or "-"'),
    time_intervals: z.array(timeRangeSchema).min(1),
  })
  .strict();
export type TimeIntervalConfig = z.output<typeof timeIntervalSchema>;

/** The controller's `alerting:` section. Timings are durations so tests can run at 200ms scale. */
export const alertingSchema = z
  .object({
    enabled: z.boolean().prefault(true),
    group_by: z.array(labelName).prefault(['alertname', 'host']),
    group_wait: duration().prefault('30s'),
    group_interval: duration({ min: 1 }).prefault('5m'),
    repeat_interval: duration({ min: 1 }).prefault('4h'),
    /**
     * Alert storms: when a group's first notification is due while at least this many groups of
     * the same route (itself included) are still in their group_wait, all of them go out now as
     * one message per receiver (1,000 hosts offline at once → one message, not 1,000). 0 = off.
     */
    storm_groups: z.number().int().min(0).max(1_000_000).prefault(10),
    /** A firing alert not re-asserted for this long resolves itself (per-alert override in the event). */
    resolve_timeout: duration({ min: 1 }).prefault('5m'),
    /** How often expired alerts and silences are looked for. */
    sweep_interval: duration({ min: 10 }).prefault('1s'),
    /** Resolved alerts and notification log rows older than this are deleted. */
    retention: duration().prefault('7d'),
    receivers: z.array(receiverSchema).prefault([]),
    routes: z.array(routeSchema).prefault([]),
    inhibit: z.array(inhibitSchema).prefault([]),
    /** Named time intervals for routes' mute_time_intervals / active_time_intervals. */
    time_intervals: z.array(timeIntervalSchema).prefault([]),
    /** The controller's URL as operators reach it; truncated notifications link to its alert list. */
    external_url: httpUrl.optional(),
    /** Gets a notification after a receiver's retries are exhausted. */
    fallback_receiver: z.string().optional(),
    retry: z
      .object({
        attempts: z.number().int().min(1).max(20).prefault(4),
        initial: duration().prefault('1s'),
        max: duration().prefault('30s'),
        /** Longest Retry-After (429/503) a receiver waits for; a longer one is cut to this. */
        max_retry_after: duration().prefault('5m'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((a, ctx) => {
    const names = new Set<string>();
    a.receivers.forEach((r, i) => {
      if (names.has(r.name)) ctx.addIssue({ code: 'custom', path: ['receivers', i, 'name'], message: `duplicate receiver name "${r.name}"` });
      names.add(r.name);
    });
    const intervals = new Set(a.time_intervals.map((t) => t.name));
    const walk = (routes: readonly RouteConfig[], path: Array<string | number>, inherited: boolean) => {
      routes.forEach((r, i) => {
        const here = [...path, i];
        if (r.receivers === undefined && !inherited && (r.routes ?? []).length === 0) ctx.addIssue({ code: 'custom', path: [...here, 'receivers'], message: 'a route needs receivers (its own or its parent route\'s)' });
        if (r.receivers !== undefined && r.receivers.length === 0) ctx.addIssue({ code: 'custom', path: [...here, 'receivers'], message: 'a route needs at least one receiver' });
        (r.receivers ?? []).forEach((name, j) => {
          if (!names.has(name)) ctx.addIssue({ code: 'custom', path: [...here, 'receivers', j], message: `unknown receiver "${name}" (defined: ${[...names].join(', ') || 'none'})` });
        });
        for (const key of ['mute_time_intervals', 'active_time_intervals'] as const) {
          r[key].forEach((name, j) => {
            if (!intervals.has(name)) ctx.addIssue({ code: 'custom', path: [...here, key, j], message: `unknown time interval "${name}" (defined: ${[...intervals].join(', ') || 'none'})` });
          });
        }
        walk(r.routes ?? [], [...here, 'routes'], inherited || r.receivers !== undefined);
      });
    };
    walk(a.routes, ['routes'], false);
    if (a.fallback_receiver !== undefined && !names.has(a.fallback_receiver)) {
      ctx.addIssue({ code: 'custom', path: ['fallback_receiver'], message: `unknown receiver "${a.fallback_receiver}" (defined: ${[...names].join(', ') || 'none'})` });
    }
  });

export type AlertingConfig = z.output<typeof alertingSchema>;
