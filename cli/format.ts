import Table from 'cli-table3';
import type { Command } from 'commander';
import type { ControllerClient } from './client.js';

/** One line (or block) to stdout, newline-terminated: how every opsctl command prints. */
export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** An opsctl table: plain text, no colours or borders, so output pipes and greps cleanly. */
export function table(head: string[], opts: { colWidths?: number[]; wordWrap?: boolean } = {}): Table.Table {
  return new Table({ head, style: { head: [], border: [] }, ...opts }) as Table.Table;
}

/** The controller client a command gets from the global --controller option. */
export type ClientOf = (cmd: Command) => ControllerClient;

/** Human renderings for opsctl tables. */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function uptime(seconds: number): string {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

export function tagsText(tags: Record<string, string>): string {
  return Object.entries(tags)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
