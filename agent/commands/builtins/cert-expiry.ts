import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Builtin } from './types.js';

const PEM_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Expiry of every certificate in the given PEM files; failed when any expires within `warn_days` (default 14). */
export const certExpiry: Builtin = async (args) => {
  const paths = Array.isArray(args.paths) ? args.paths.map(String) : [];
  const warnDays = typeof args.warn_days === 'number' ? args.warn_days : 14;
  const now = Date.now();
  const certs: Array<Record<string, unknown>> = [];
  let soonest = Infinity;
  let problems = 0;
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      certs.push({ path, error: (err as NodeJS.ErrnoException).code ?? String(err) });
      problems++;
      continue;
    }
    const pems = text.match(PEM_RE) ?? [];
    if (pems.length === 0) {
      certs.push({ path, error: 'no PEM certificate in file' });
      problems++;
    }
    for (const pem of pems) {
      try {
        const c = new X509Certificate(pem);
        const notAfter = Date.parse(c.validTo);
        const daysLeft = Math.floor((notAfter - now) / 86_400_000);
        soonest = Math.min(soonest, daysLeft);
        if (daysLeft < warnDays) problems++;
        certs.push({ path, subject: c.subject.replace(/\n/g, ', '), issuer: c.issuer.replace(/\n/g, ', '), not_after: new Date(notAfter).toISOString(), days_left: daysLeft });
      } catch (err) {
        certs.push({ path, error: `unparsable certificate: ${(err as Error).message}` });
        problems++;
      }
    }
  }
  // The summary is what the run table shows: name what went wrong, not only a count.
  const errors = certs.filter((c) => typeof c.error === 'string');
  const found = certs.length - errors.length;
  const parts: string[] = [];
  if (found > 0) parts.push(`${found} certificate(s), soonest expiry in ${soonest} days${soonest < warnDays ? ` (under warn_days ${warnDays})` : ''}`);
  if (errors.length > 0) parts.push(errors.slice(0, 3).map((c) => `${String(c.path)}: ${String(c.error)}`).join('; ') + (errors.length > 3 ? `; ${errors.length - 3} more` : ''));
  const summary = paths.length === 0 ? 'no paths given (with: { paths: [...] })' : parts.join('; ');
  return { status: problems > 0 ? 'failed' : 'ok', summary, data: certs };
};
