import { useState } from 'preact/hooks';
import { get, send } from '../api.js';
import { ago, DataTable, ErrorBox, Section, StatusBadge, useData } from '../components.js';
import { useI18n } from '../i18n.js';
import { can, useSession } from '../session.js';

interface Task {
  name: string;
  description?: string;
  schedule: string;
  target: string;
  playbook: string;
  enabled: boolean;
  nextRun: string | null;
  last: { runId: string; status: string; startedAt: string | null } | null;
}
/** GET /api/v1/tasks/set: the task set in effect (with two controllers, the fleet's). */
interface TaskSet {
  hash: string;
  origin: string;
  loadedAt: string;
  drift: boolean;
  error?: string;
}
interface Policy {
  name: string;
  when: unknown;
  playbook: string;
  enabled: boolean;
  paused: boolean;
}

export function TasksPage() {
  const { t } = useI18n();
  const session = useSession();
  const tasks = useData(() => get<Task[]>('/api/v1/tasks'), []);
  const policies = useData(() => get<{ policies: Policy[] }>('/api/v1/policies'), []);
  const set = useData(() => get<TaskSet>('/api/v1/tasks/set'), []);
  const [error, setError] = useState<unknown>(undefined);
  const act = async (fn: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await fn();
    } catch (err) {
      setError(err);
    }
    tasks.reload();
    policies.reload();
  };
  return (
    <div class="page" data-page="tasks">
      <h1>{t('tasks.title')}</h1>
      <ErrorBox error={error} />
      <Section title={t('tasks.tasks')}>
        <ErrorBox error={tasks.error} />
        {set.data && (
          <p class="muted" data-task-set={set.data.hash}>
            {t('tasks.set', { hash: set.data.hash.slice(0, 12), origin: set.data.origin, at: ago(set.data.loadedAt) })}
          </p>
        )}
        {set.data?.drift && <p data-task-drift="">{t('tasks.drift')}</p>}
        {set.data?.error && <p data-task-set-error="">{set.data.error}</p>}
        <DataTable
          rows={tasks.data ?? []}
          rowAttrs={(k) => ({ 'data-task': k.name })}
          columns={[
            { head: t('common.name'), cell: (k) => k.name },
            { head: t('tasks.schedule'), cell: (k) => <code>{k.schedule}</code> },
            {
              head: t('runs.playbook'),
              cell: (k) => (
                <>
                  {k.playbook} <code>{k.target}</code>
                </>
              ),
            },
            { head: t('tasks.next'), cell: (k) => (k.nextRun ? new Date(k.nextRun).toLocaleString() : '—') },
            {
              head: t('tasks.last'),
              cell: (k) => (
                <>
                  {k.last ? <StatusBadge status={k.last.status} /> : '—'} {k.last?.startedAt && ago(k.last.startedAt)}
                </>
              ),
            },
            {
              cell: (k) =>
                can(session, 'operator') && (
                  <button type="button" onClick={() => act(() => send('POST', `/api/v1/tasks/${encodeURIComponent(k.name)}/run`))}>
                    {t('tasks.runNow')}
                  </button>
                ),
            },
          ]}
        />
      </Section>
      <Section title={t('tasks.policies')}>
        <ErrorBox error={policies.error} />
        <DataTable
          rows={policies.data?.policies ?? []}
          rowAttrs={(p) => ({ 'data-policy': p.name })}
          columns={[
            { head: t('common.name'), cell: (p) => p.name },
            { head: t('tasks.when'), cell: (p) => <code>{JSON.stringify(p.when)}</code> },
            { head: t('runs.playbook'), cell: (p) => p.playbook },
            { head: t('common.status'), cell: (p) => (p.paused ? t('tasks.paused') : t('tasks.active')) },
            {
              cell: (p) =>
                can(session, 'admin') && (
                  <button type="button" onClick={() => act(() => send('POST', `/api/v1/policies/${p.paused ? 'resume' : 'pause'}`, { policy: p.name }))}>
                    {p.paused ? t('tasks.resume') : t('tasks.pause')}
                  </button>
                ),
            },
          ]}
        />
      </Section>
    </div>
  );
}
