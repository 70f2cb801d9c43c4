import { useState } from 'preact/hooks';
import { get, send } from '../api.js';
import { ago, ErrorBox, Section, StatusBadge, useData } from '../components.js';
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
        <table>
          <thead>
            <tr>
              <th>{t('common.name')}</th>
              <th>{t('tasks.schedule')}</th>
              <th>{t('runs.playbook')}</th>
              <th>{t('tasks.next')}</th>
              <th>{t('tasks.last')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(tasks.data ?? []).map((k) => (
              <tr data-task={k.name}>
                <td>{k.name}</td>
                <td>
                  <code>{k.schedule}</code>
                </td>
                <td>
                  {k.playbook} <code>{k.target}</code>
                </td>
                <td>{k.nextRun ? new Date(k.nextRun).toLocaleString() : '—'}</td>
                <td>{k.last ? <StatusBadge status={k.last.status} /> : '—'} {k.last?.startedAt && ago(k.last.startedAt)}</td>
                <td>
                  {can(session, 'operator') && (
                    <button type="button" onClick={() => act(() => send('POST', `/api/v1/tasks/${encodeURIComponent(k.name)}/run`))}>
                      {t('tasks.runNow')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title={t('tasks.policies')}>
        <ErrorBox error={policies.error} />
        <table>
          <thead>
            <tr>
              <th>{t('common.name')}</th>
              <th>{t('tasks.when')}</th>
              <th>{t('runs.playbook')}</th>
              <th>{t('common.status')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(policies.data?.policies ?? []).map((p) => (
              <tr data-policy={p.name}>
                <td>{p.name}</td>
                <td>
                  <code>{JSON.stringify(p.when)}</code>
                </td>
                <td>{p.playbook}</td>
                <td>{p.paused ? t('tasks.paused') : t('tasks.active')}</td>
                <td>
                  {can(session, 'admin') && (
                    <button type="button" onClick={() => act(() => send('POST', `/api/v1/policies/${p.paused ? 'resume' : 'pause'}`, { policy: p.name }))}>
                      {p.paused ? t('tasks.resume') : t('tasks.pause')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </div>
  );
}
