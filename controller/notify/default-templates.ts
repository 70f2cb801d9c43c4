/**
 * Default alert blocks in Liquid, per language (`language: zh | en` on a receiver; without it
 * the built-in bilingual block is used). They are also the starting point for a receiver's own
 * `template_file` (docs/alerting.md shows them). Variables: alertname, host, severity, summary,
 * description, remediation, since, duration, ends, count, status, fingerprint, labels,
 * annotations, and `alert` (the whole alert as the webhook body carries it).
 */
export const DEFAULT_ALERT_TEMPLATES: Record<'zh' | 'en', { markdown: string; text: string }> = {
  zh: {
    markdown: [
      '#### {% if status == "resolved" %}✅ 已恢复{% else %}🔴 告警{% endif %} {{ alertname }}{% if host != "" %} @ {{ host }}{% endif %}',
      '- **级别**: {{ severity | default: "-" }}',
      '- **摘要**: {{ summary | default: "-" }}',
      '{% if description != "" %}- **详情**: {{ description }}\n{% endif %}{% if status == "resolved" %}- **时间**: {{ since }} → {{ ends }}（持续 {{ duration }}）{% else %}- **开始**: {{ since }}（已持续 {{ duration }}）{% endif %}',
      '- **次数**: {{ count }}',
      '',
    ].join('\n'),
    text: '{% if status == "resolved" %}[已恢复]{% else %}[告警]{% endif %} {{ alertname }}{% if host != "" %} @ {{ host }}{% endif %} [{{ severity | default: "-" }}]\n  {{ summary | default: "-" }}\n{% if description != "" %}  {{ description }}\n{% endif %}  开始 {{ since }}，持续 {{ duration }}，次数 {{ count }}\n',
  },
  en: {
    markdown: [
      '#### {% if status == "resolved" %}✅ RESOLVED{% else %}🔴 FIRING{% endif %} {{ alertname }}{% if host != "" %} @ {{ host }}{% endif %}',
      '- **severity**: {{ severity | default: "-" }}',
      '- **summary**: {{ summary | default: "-" }}',
      '{% if description != "" %}- **description**: {{ description }}\n{% endif %}{% if status == "resolved" %}- **time**: {{ since }} → {{ ends }} (lasted {{ duration }}){% else %}- **since**: {{ since }} (for {{ duration }}){% endif %}',
      '- **count**: {{ count }}',
      '',
    ].join('\n'),
    text: '{% if status == "resolved" %}[RESOLVED]{% else %}[FIRING]{% endif %} {{ alertname }}{% if host != "" %} @ {{ host }}{% endif %} [{{ severity | default: "-" }}]\n  {{ summary | default: "-" }}\n{% if description != "" %}  {{ description }}\n{% endif %}  since {{ since }}, for {{ duration }}, count {{ count }}\n',
  },
};
