import { useState } from 'preact/hooks';
import { get, request, readNdjson, send } from '../api.js';
import { ago, DataTable, ErrorBox, Section, StatusBadge, useData } from '../components.js';
import { useI18n } from '../i18n.js';
import { can, useSession } from '../session.js';

interface Playbook {
  name: string;
  description?: string;
}
interface RunRecord {
  id: string;
  actor: string;
  playbook: string;
  target: string;
  status: string;
  startedAt: string;
  counts: Record<string, number>;
}
interface HostOut {
  status: string;
  lines: string[];
}
type StreamEvent =
  | { type: 'run'; runId: string; matched: string[] }
  | { type: 'host_start'; host: string }
  | { type: 'output'; host: string; text: string; stream: string }
  | { type: 'step'; host: string; name?: string; status?: string }
  | { type: 'host_done'; host: string; status: string; error: string }
  | { type: 'recap'; runId: string; status: string; counts: Record<string, number>; durationMs: number };

export function RunsPage() {
  const { t } = useI18n();
  const session = useSession();
  const playbooks = useData(() => get<Playbook[]>('/api/v1/playbooks'), []);
  const history = useData(() => get<RunRecord[]>('/api/v1/runs?limit=50'), []);
  const [playbook, setPlaybook] = useState('');
  const [target, setTarget] = useState('*');
  const [matched, setMatched] = useState<string[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [running, setRunning] = useState(false);
  const [out, setOut] = useState<Record<string, HostOut>>({});
  const [recap, setRecap] = useState<{ status: string; durationMs: number; counts: Record<string, number> } | undefined>(undefined);
  const pb = playbook || playbooks.data?.[0]?.name || '';

  const previewHosts = async (e?: Event) => {
    e?.preventDefault();
    setError(undefined);
    try {
      const r = await send<{ matched: Array<{ id: string }> }>('POST', '/api/v1/runs', { playbook: pb, target, dry_run: true });
      setMatched(r.matched.map((h) => h.id));
    } catch (err) {
      setMatched(undefined);
      setError(err);
    }
  };

  // The run answers NDJSON as it goes: each host's output lands in its own pane while the others still run.
  const start = async () => {
    if (!matched || !confirm(t('runs.confirmRun', { playbook: pb, n: matched.length }))) return;
    setError(undefined);
    setRecap(undefined);
    setOut({});
    setRunning(true);
    const panes: Record<string, HostOut> = {};
    const update = () => setOut({ ...panes });
    const pane = (h: string) => (panes[h] ??= { status: 'running', lines: [] });
    try {
      const res = await request('POST', '/api/v1/runs', { playbook: pb, target });
      await readNdjson(res, (v) => {
        const e = v as StreamEvent;
        if (e.type === 'run') for (const h of e.matched) pane(h).status = 'pending';
        else if (e.type === 'host_start') pane(e.host).status = 'running';
        else if (e.type === 'output') pane(e.host).lines.push(e.text);
        else if (e.type === 'step') pane(e.host).lines.push(`— ${e.name ?? ''} ${e.status ?? ''}`);
        else if (e.type === 'host_done') {
          pane(e.host).status = e.status;
          if (e.error) pane(e.host).lines.push(e.error);
        } else if (e.type === 'recap') setRecap({ status: e.status, durationMs: e.durationMs, counts: e.counts });
        update();
      });
    } catch (err) {
      setError(err);
    } finally {
      setRunning(false);
      history.reload();
    }
  };

  return (
    <div class="page" data-page="runs">
      <h1>{t('runs.title')}</h1>
      <ErrorBox error={error ?? playbooks.error} />
      {can(session, 'operator') && (
        <Section title={t('runs.start')}>
          <form class="inline" onSubmit={previewHosts}>
            <label for="run-playbook">{t('runs.playbook')}</label>
            <select id="run-playbook" value={pb} onChange={(e) => (setPlaybook((e.currentTarget as HTMLSelectElement).value), setMatched(undefined))}>
              {(playbooks.data ?? []).map((p) => (
                <option value={p.name}>{p.name}</option>
              ))}
            </select>
            <label for="run-target">{t('runs.target')}</label>
            <input id="run-target" value={target} onInput={(e) => (setTarget((e.currentTarget as HTMLInputElement).value), setMatched(undefined))} spellcheck={false} />
            <button type="submit">{t('runs.preview')}</button>
            <button type="button" disabled={!matched || matched.length === 0 || running} onClick={start} data-testid="run-start">
              {t('runs.run')}
            </button>
          </form>
          {matched && (
            <p data-testid="run-matched" data-count={matched.length}>
              {t('runs.matched', { n: matched.length })}: {matched.join(', ')}
            </p>
          )}
        </Section>
      )}
      {Object.keys(out).length > 0 && (
        <Section title={t('runs.output')}>
          {recap && (
            <p class="notice" data-testid="run-recap" data-status={recap.status}>
              {t('runs.recap', { status: recap.status, ms: recap.durationMs })} {JSON.stringify(recap.counts)}
            </p>
          )}
          <div class="panes">
            {Object.entries(out).map(([h, o]) => (
              <div class="pane" data-run-host={h}>
                <h3>
                  {h} <StatusBadge status={o.status} />
                </h3>
                <pre>{o.lines.join('')}</pre>
              </div>
            ))}
          </div>
        </Section>
      )}
      <Section title={t('runs.history')}>
        <ErrorBox error={history.error} />
        <DataTable
          rows={history.data ?? []}
          columns={[
            { head: t('runs.col.id'), cell: (r) => <code>{r.id.slice(0, 12)}</code> },
            { head: t('runs.col.playbook'), cell: (r) => r.playbook },
            { head: t('runs.target'), cell: (r) => <code>{r.target}</code> },
            { head: t('runs.col.actor'), cell: (r) => r.actor },
            { head: t('runs.col.started'), cell: (r) => ago(r.startedAt) },
            {
              head: t('runs.col.counts'),
              cell: (r) => (
                <>
                  <StatusBadge status={r.status} /> {JSON.stringify(r.counts)}
                </>
              ),
            },
          ]}
        />
      </Section>
    </div>
  );
}
