import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { AlertApiView, SilenceView } from '../controller/api/wire.js';
import { formatMatcher, parseMatcher } from '../shared/alerts/matchers.js';
import { ago, type ClientOf, print, table } from './format.js';
import { fittedTable } from './terminal.js';

function muteText(a: AlertApiView): string {
  if (a.silencedBy.length) return `silenced (${a.silencedBy.map((s) => s.slice(0, 8)).join(',')})`;
  if (a.inhibitedBy.length) return 'inhibited';
  return '';
}

function otherLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .filter(([k]) => !['alertname', 'host', 'severity'].includes(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** `opsctl alerts`, `opsctl silence …`, `opsctl notify …`: registered by opsctl.ts with one call. */
export function registerAlertCommands(program: Command, client: ClientOf): void {
  /** JSON request to the controller API through opsctl's shared client. */
  const request = <T = unknown>(cmd: Command, method: string, path: string, body?: unknown): Promise<T> => client(cmd).send<T>(method, path, body);
  const alerts = program
    .command('alerts')
    .description('list alerts (firing by default); `alerts show FINGERPRINT` for one')
    .option('--state <state>', 'firing, resolved or all', 'firing')
    .option('--json', 'print a JSON array')
    .action(async (opts: { state: string; json?: boolean }, cmd: Command) => {
      const list = await request<AlertApiView[]>(cmd, 'GET', `api/v1/alerts?state=${encodeURIComponent(opts.state)}`);
      if (opts.json) return print(JSON.stringify(list, null, 2));
      if (list.length === 0) return print(`no ${opts.state === 'all' ? '' : `${opts.state} `}alerts`);
      // Fit the terminal: summary and labels give way first (whole values: --json, alerts show).
      const rows = list.map((a) => [a.fingerprint, a.status, a.labels.alertname ?? '', a.labels.host ?? '', a.labels.severity ?? '', ago(a.startsAt), a.count, (a.annotations.summary ?? '').slice(0, 60), muteText(a), otherLabels(a.labels)]);
      print(fittedTable(['FINGERPRINT', 'STATE', 'ALERTNAME', 'HOST', 'SEVERITY', 'SINCE', 'COUNT', 'SUMMARY', 'MUTED', 'LABELS'], rows, { shrinkFirst: ['LABELS', 'SUMMARY', 'MUTED', 'FINGERPRINT', 'ALERTNAME'] }));
      print(`${list.length} alert(s)`);
    });
  alerts
    .command('routes')
    .description('routing tree tools')
    .command('test')
    .description('which routes and receivers an alert with these labels reaches, e.g. --labels alertname=DiskFull severity=critical')
    .requiredOption('--labels <k=v...>', 'the alert\'s labels')
    .option('--json', 'print JSON')
    .action(async (opts: { labels: string[]; json?: boolean }, cmd: Command) => {
      const labels: Record<string, string> = {};
      for (const kv of opts.labels) {
        const i = kv.indexOf('=');
        if (i <= 0) return cmd.error(`--labels: expected name=value, got "${kv}"`, { exitCode: 2, code: 'opsctl.usage' });
        labels[kv.slice(0, i)] = kv.slice(i + 1);
      }
      const r = await request<{ receivers: string[]; routes: Array<{ id: string; receivers: string[]; groupBy: string[]; groupKey: string; mutedNow: boolean }> }>(cmd, 'POST', 'api/v1/alerts/routes/test', { labels });
      if (opts.json) return print(JSON.stringify(r, null, 2));
      if (r.routes.length === 0) {
        print('no route matches: the alert is stored but nobody is notified');
        process.exitCode = 1;
        return;
      }
      print(r.receivers.join(','));
      const t = table(['ROUTE', 'RECEIVERS', 'GROUP BY', 'MUTED NOW']);
      for (const x of r.routes) t.push([x.id, x.receivers.join(','), x.groupBy.join(',') || '(none)', x.mutedNow ? 'yes (time interval)' : '']);
      print(t.toString());
    });
  alerts
    .command('show <fingerprint>')
    .description('one alert with its labels, annotations and what mutes it')
    .option('--json', 'print JSON')
    .action(async (fp: string, opts: { json?: boolean }, cmd: Command) => {
      const a = await request<AlertApiView>(cmd, 'GET', `api/v1/alerts/${encodeURIComponent(fp)}`);
      if (opts.json) return print(JSON.stringify(a, null, 2));
      print(`fingerprint ${a.fingerprint}`);
      print(`state       ${a.status}${muteText(a) ? ` (${muteText(a)})` : ''}`);
      print(`since       ${a.startsAt} (${ago(a.startsAt)})${a.endsAt ? `, ended ${a.endsAt}` : ''}`);
      print(`updated     ${a.updatedAt}, asserted ${a.count} time(s), source ${a.source}`);
      print('labels');
      for (const [k, v] of Object.entries(a.labels).sort()) print(`  ${k}=${v}`);
      print('annotations');
      for (const [k, v] of Object.entries(a.annotations).sort()) print(`  ${k}: ${v}`);
      if (a.silencedBy.length) print(`silenced by ${a.silencedBy.join(', ')}`);
      if (a.inhibitedBy.length) print(`inhibited by ${a.inhibitedBy.join(', ')}`);
    });

  const silence = program.command('silence').description('silences: hold back notifications of matching alerts');
  silence
    .command('add')
    .description('create a silence, e.g. --match host=web-01 --match alertname=DiskFull --for 2h --comment "disk swap"')
    .requiredOption('--match <matcher>', 'label matcher name=value, name!=value, name=~regex, name!~regex (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--for <duration>', 'how long, e.g. 30m, 2h', '1h')
    .option('--comment <text>', 'why', '')
    .option('--json', 'print JSON')
    .action(async (opts: { match: string[]; for: string; comment: string; json?: boolean }, cmd: Command) => {
      const matchers = opts.match.map(parseMatcher);
      const s = await request<SilenceView>(cmd, 'POST', 'api/v1/silences', { matchers, duration: opts.for, comment: opts.comment });
      if (opts.json) return print(JSON.stringify(s, null, 2));
      print(`silence ${s.id} ${s.status} until ${s.endsAt}: ${s.matchers.map(formatMatcher).join(' ')}`);
    });
  silence
    .command('list')
    .description('active and pending silences')
    .option('--all', 'include expired and removed ones')
    .option('--json', 'print JSON')
    .action(async (opts: { all?: boolean; json?: boolean }, cmd: Command) => {
      const list = await request<SilenceView[]>(cmd, 'GET', `api/v1/silences${opts.all ? '?all=true' : ''}`);
      if (opts.json) return print(JSON.stringify(list, null, 2));
      if (list.length === 0) return print('no silences');
      const t = table(['ID', 'STATUS', 'MATCHERS', 'ENDS', 'BY', 'COMMENT']);
      for (const s of list) t.push([s.id, s.status, s.matchers.map(formatMatcher).join(' '), s.endsAt, s.createdBy, s.comment]);
      print(t.toString());
    });
  silence
    .command('rm <id>')
    .description('remove a silence')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await request(cmd, 'DELETE', `api/v1/silences/${encodeURIComponent(id)}`);
      print(`silence ${id} removed`);
    });

  const notify = program.command('notify').description('notification receivers');
  notify
    .command('test <receiver>')
    .description("send a test message through a receiver and print the channel's answer")
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const r = await request<{ receiver: string; ok: boolean; detail: string; code?: string }>(cmd, 'POST', `api/v1/receivers/${encodeURIComponent(name)}/test`);
      if (opts.json) print(JSON.stringify(r, null, 2));
      else print(`${r.receiver}: ${r.ok ? 'ok' : `FAILED ${r.code ?? ''}`} — ${r.detail}`);
      if (!r.ok) process.exitCode = 1;
    });
  notify
    .command('preview')
    .description('render what a receiver would send for the alerts in a JSON file (one alert or a list, as POST /api/v1/alerts takes), without sending')
    .requiredOption('--receiver <name>', 'the receiver')
    .requiredOption('--alert <file>', 'JSON file with an alert or a list of alerts ("-" for stdin)')
    .action(async (opts: { receiver: string; alert: string }, cmd: Command) => {
      let text: string;
      try {
        text = readFileSync(opts.alert === '-' ? 0 : opts.alert, 'utf8');
      } catch (err) {
        return cmd.error(`--alert ${opts.alert}: ${(err as Error).message}`, { exitCode: 2, code: 'opsctl.usage' });
      }
      let alerts: unknown;
      try {
        alerts = JSON.parse(text);
      } catch (err) {
        return cmd.error(`--alert ${opts.alert}: not JSON: ${(err as Error).message}`, { exitCode: 2, code: 'opsctl.usage' });
      }
      const r = await request<{ receiver: string; type: string; body: unknown }>(cmd, 'POST', `api/v1/receivers/${encodeURIComponent(opts.receiver)}/preview`, alerts);
      print(JSON.stringify(r.body, null, 2));
    });
  notify
    .command('log')
    .description('recent notification attempts')
    .option('--receiver <name>', 'only this receiver')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(async (opts: { receiver?: string; limit: string; json?: boolean }, cmd: Command) => {
      const q = new URLSearchParams({ limit: opts.limit, ...(opts.receiver ? { receiver: opts.receiver } : {}) });
      const rows = await request<Array<{ ts: string; receiver: string; kind: string; status: string; alerts: number; merged: number; attempt: number; outcome: string; code: string; detail: string }>>(cmd, 'GET', `api/v1/notifications?${q}`);
      if (opts.json) return print(JSON.stringify(rows, null, 2));
      const t = table(['TIME', 'RECEIVER', 'KIND', 'STATUS', 'ALERTS', 'MERGED', 'ATTEMPT', 'OUTCOME', 'DETAIL']);
      for (const r of rows) t.push([r.ts, r.receiver, r.kind, r.status, r.alerts, r.merged, r.attempt, r.outcome, `${r.code ? `${r.code} ` : ''}${r.detail}`.slice(0, 80)]);
      print(t.toString());
    });
}
