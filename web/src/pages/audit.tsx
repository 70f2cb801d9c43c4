import { useState } from 'preact/hooks';
import { get } from '../api.js';
import { ErrorBox, Section, useData } from '../components.js';
import { useI18n } from '../i18n.js';

interface AuditRow {
  id: number;
  ts_ms: number;
  actor: string;
  action: string;
  subject: string;
  details: unknown;
}
interface Verify {
  ok: boolean;
  rows?: number;
  checked?: number;
  error?: string;
  reason?: string;
  warnings?: string[];
}

export function AuditPage() {
  const { t } = useI18n();
  const rows = useData(() => get<AuditRow[]>('/api/v1/audit?limit=1000'), []);
  const verify = useData(() => get<Verify>('/api/v1/audit/verify'), []);
  const [filter, setFilter] = useState('');
  const f = filter.trim().toLowerCase();
  const shown = (rows.data ?? []).filter((r) => !f || `${r.actor} ${r.action} ${r.subject}`.toLowerCase().includes(f));
  const v = verify.data;
  return (
    <div class="page" data-page="audit">
      <h1>{t('audit.title')}</h1>
      <Section title={t('audit.chain')}>
        <ErrorBox error={verify.error} />
        {v && (
          <p class={v.ok ? 'ok' : 'error'} data-testid="audit-chain" data-ok={String(v.ok)}>
            {v.ok ? t('audit.chainOk', { n: v.rows ?? v.checked ?? rows.data?.length ?? 0 }) : t('audit.chainBroken', { why: v.error ?? v.reason ?? JSON.stringify(v) })}
            {(v.warnings ?? []).map((w) => (
              <small class="warn"> {w}</small>
            ))}
          </p>
        )}
      </Section>
      <Section title={t('audit.title')}>
        <label for="audit-filter">{t('audit.filter')}</label> <input id="audit-filter" value={filter} onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)} />
        <ErrorBox error={rows.error} />
        <table>
          <thead>
            <tr>
              <th>{t('common.time')}</th>
              <th>{t('audit.actor')}</th>
              <th>{t('audit.action')}</th>
              <th>{t('audit.subject')}</th>
            </tr>
          </thead>
          <tbody>
            {shown.slice(0, 500).map((r) => (
              <tr data-audit={r.action}>
                <td>{new Date(r.ts_ms).toLocaleString()}</td>
                <td>{r.actor}</td>
                <td>{r.action}</td>
                <td>
                  <code>{r.subject}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </div>
  );
}
