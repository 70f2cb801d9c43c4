import { useState } from 'preact/hooks';
import { get } from '../api.js';
import { DataTable, ErrorBox, Section, useData } from '../components.js';
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
        <DataTable
          rows={shown.slice(0, 500)}
          rowAttrs={(r) => ({ 'data-audit': r.action })}
          columns={[
            { head: t('common.time'), cell: (r) => new Date(r.ts_ms).toLocaleString() },
            { head: t('audit.actor'), cell: (r) => r.actor },
            { head: t('audit.action'), cell: (r) => r.action },
            { head: t('audit.subject'), cell: (r) => <code>{r.subject}</code> },
          ]}
        />
      </Section>
    </div>
  );
}
