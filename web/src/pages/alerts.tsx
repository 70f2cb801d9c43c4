import { useEffect, useState } from 'preact/hooks';
import { get, send } from '../api.js';
import { ago, ErrorBox, Section, useData } from '../components.js';
import { useI18n } from '../i18n.js';
import { useLiveTick } from '../live.js';
import { can, useSession } from '../session.js';

interface Alert {
  fingerprint: string;
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  silencedBy: string[];
  inhibitedBy: string[];
}
/** An aggregation group of GET /api/v1/alerts/groups (AlertGroupView in controller/alerts/alert-manager.ts). */
interface AlertGroup {
  groupKey: string;
  route: { id: string; path: Array<{ id: string; matchers: string[] }>; receivers: string[]; groupBy: string[] };
  labels: Record<string, string>;
  alerts: Alert[];
  notified: Array<{ receiver: string; at: string | null }>;
  nextFlushAt: string | null;
}
interface Silence {
  id: string;
  matchers: Array<{ name: string; op: string; value: string }>;
  endsAt: string;
  createdBy: string;
  comment: string;
  status: string;
}
interface Preview {
  matched: Array<{ fingerprint: string; labels: Record<string, string> }>;
  total?: number;
}

const labelText = (l: Record<string, string>) =>
  Object.entries(l)
    .filter(([k]) => k !== 'alertname')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

export function AlertsPage() {
  const { t } = useI18n();
  const session = useSession();
  const tick = useLiveTick(['alert', 'host']);
  const alerts = useData(() => get<Alert[]>('/api/v1/alerts'), [tick]);
  const groupsData = useData(() => get<AlertGroup[]>('/api/v1/alerts/groups'), [tick]);
  const silences = useData(() => get<Silence[]>('/api/v1/silences'), [tick]);
  const [matchers, setMatchers] = useState('');
  const [duration, setDuration] = useState('2h');
  const [comment, setComment] = useState('');
  const [preview, setPreview] = useState<Preview | undefined>(undefined);
  const [previewError, setPreviewError] = useState<unknown>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const lines = matchers
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);

  // Live preview: what these matchers would silence now, asked of the server (RE2 regexes, the same matcher code).
  useEffect(() => {
    if (lines.length === 0) {
      setPreview(undefined);
      setPreviewError(undefined);
      return;
    }
    const timer = setTimeout(() => {
      send<Preview>('POST', '/api/v1/dashboard/silences/preview', { matchers: lines }).then(
        (p) => (setPreview(p), setPreviewError(undefined)),
        (err: unknown) => (setPreview(undefined), setPreviewError(err)),
      );
    }, 250);
    return () => clearTimeout(timer);
  }, [matchers, tick]);

  const create = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      await send('POST', '/api/v1/silences', { matchers: lines, duration, comment });
      setMatchers('');
      setComment('');
      alerts.reload();
      groupsData.reload();
      silences.reload();
    } catch (err) {
      setError(err);
    }
  };
  const expire = async (id: string) => {
    if (!confirm(t('alerts.confirmExpire', { id }))) return;
    setError(undefined);
    try {
      await send('DELETE', `/api/v1/silences/${encodeURIComponent(id)}`);
      alerts.reload();
      groupsData.reload();
      silences.reload();
    } catch (err) {
      setError(err);
    }
  };

  // Firing alerts as the dispatcher groups them (route + group_by values), like Alertmanager's UI.
  // A firing alert in no group (no route takes it, or alerting is disabled) is listed apart, never hidden.
  const groups = (groupsData.data ?? []).map((g) => ({ ...g, alerts: g.alerts.filter((a) => a.status === 'firing') })).filter((g) => g.alerts.length > 0);
  const grouped = new Set(groups.flatMap((g) => g.alerts.map((a) => a.fingerprint)));
  const unrouted = groupsData.data ? (alerts.data ?? []).filter((a) => !grouped.has(a.fingerprint)) : [];
  const groupLabels = (l: Record<string, string>) =>
    Object.entries(l)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ') || t('alerts.noGroupLabels');
  const item = (a: Alert) => {
    const muted = a.silencedBy.length > 0 || a.inhibitedBy.length > 0;
    return (
      <li class={muted ? 'alert muted-alert' : 'alert'} data-fingerprint={a.fingerprint} data-silenced={a.silencedBy.length > 0 ? 'true' : 'false'}>
        <b>{a.labels.alertname}</b> <code>{labelText(a.labels)}</code> <small class="muted">{ago(a.startsAt)}</small>
        {a.annotations.summary && <div>{a.annotations.summary}</div>}
        {a.silencedBy.map((id) => (
          <span class="tag silenced">{t('alerts.silencedBy', { id })}</span>
        ))}
        {a.inhibitedBy.length > 0 && <span class="tag inhibited">{t('alerts.inhibitedBy', { by: a.inhibitedBy.join(', ') })}</span>}
      </li>
    );
  };

  return (
    <div class="page" data-page="alerts">
      <h1>{t('alerts.title')}</h1>
      <ErrorBox error={error} />
      <div class="grid">
        <Section title={t('alerts.firing')}>
          <ErrorBox error={alerts.error} />
          {alerts.data && alerts.data.length === 0 && <p class="muted">{t('alerts.none')}</p>}
          <ErrorBox error={groupsData.error} />
          {groups.map((g) => {
            const told = g.notified.filter((n) => n.at !== null).map((n) => Date.parse(n.at!));
            return (
              <div class="group" data-group={g.groupKey} data-route={g.route.id}>
                <h3>{t('alerts.group', { receivers: g.route.receivers.join(', '), labels: groupLabels(g.labels), n: g.alerts.length })}</h3>
                <small class="muted">
                  {t('alerts.route', { route: g.route.id, matchers: g.route.path.flatMap((p) => p.matchers).join(', ') || '*' })}
                  {' · '}
                  {told.length > 0 ? t('alerts.notified', { ago: ago(Math.max(...told)) }) : t('alerts.notNotified')}
                  {g.nextFlushAt && (
                    <>
                      {' · '}
                      {t('alerts.nextFlush', { time: new Date(g.nextFlushAt).toLocaleTimeString() })}
                    </>
                  )}
                </small>
                <ul>{g.alerts.map(item)}</ul>
              </div>
            );
          })}
          {unrouted.length > 0 && (
            <div class="group" data-group="unrouted">
              <h3>{t('alerts.unrouted', { n: unrouted.length })}</h3>
              <small class="muted">{t('alerts.unroutedWhy')}</small>
              <ul>{unrouted.map(item)}</ul>
            </div>
          )}
        </Section>
        <Section title={t('alerts.silences')}>
          <ErrorBox error={silences.error} />
          <ul>
            {(silences.data ?? []).map((s) => (
              <li data-silence={s.id}>
                <code>{s.matchers.map((m) => `${m.name}${m.op}"${m.value}"`).join(', ')}</code> <small>{t('alerts.until', { time: new Date(s.endsAt).toLocaleString() })}</small> <small class="muted">{t('alerts.by', { name: s.createdBy })}</small> {s.comment}
                {can(session, 'operator') && (
                  <button type="button" onClick={() => expire(s.id)}>
                    {t('alerts.expire')}
                  </button>
                )}
              </li>
            ))}
          </ul>
          {can(session, 'operator') && (
            <form class="stack" onSubmit={create} aria-labelledby="new-silence">
              <h3 id="new-silence">{t('alerts.newSilence')}</h3>
              <label for="silence-matchers">{t('alerts.matchers')}</label>
              <textarea id="silence-matchers" rows={3} value={matchers} onInput={(e) => setMatchers((e.currentTarget as HTMLTextAreaElement).value)} spellcheck={false} required />
              <div class="preview" role="status" aria-live="polite" data-testid="silence-preview" data-count={preview ? (preview.total ?? preview.matched.length) : ''}>
                {preview && t('alerts.preview', { n: preview.total ?? preview.matched.length })}
                {preview && (
                  <ul>
                    {preview.matched.slice(0, 10).map((a) => (
                      <li>
                        <code>
                          {a.labels.alertname} {labelText(a.labels)}
                        </code>
                      </li>
                    ))}
                  </ul>
                )}
              </div>
              <ErrorBox error={previewError} />
              <label for="silence-duration">{t('alerts.duration')}</label>
              <input id="silence-duration" value={duration} onInput={(e) => setDuration((e.currentTarget as HTMLInputElement).value)} required />
              <label for="silence-comment">{t('alerts.comment')}</label>
              <input id="silence-comment" value={comment} onInput={(e) => setComment((e.currentTarget as HTMLInputElement).value)} />
              <button type="submit">{t('alerts.create')}</button>
            </form>
          )}
        </Section>
      </div>
    </div>
  );
}
