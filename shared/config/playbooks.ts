import { z } from 'zod';
import { byteSize, duration } from './common.js';

/** Built-in inspections every agent implements (agent/commands/builtins). */
export const BUILTIN_NAMES = ['disk_usage', 'memory', 'load', 'listening_ports', 'cert_expiry', 'systemd_failed'] as const;
export type BuiltinName = (typeof BUILTIN_NAMES)[number];

const stepSchema = z
  .object({
    name: z.string().min(1).optional(),
    builtin: z.enum(BUILTIN_NAMES).optional(),
    with: z.record(z.string(), z.unknown()).optional(),
    run: z.string().min(1).optional(),
    timeout: duration({ min: 1 }).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.builtin === undefined) === (s.run === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a step has exactly one of builtin or run' });
    }
    if (s.with !== undefined && s.builtin === undefined) {
      ctx.addIssue({ code: 'custom', path: ['with'], message: 'with: only applies to builtin steps' });
    }
  });

export const playbookSchema = z
  .object({
    description: z.string().prefault(''),
    timeout: duration({ min: 1 }).prefault('60s'),
    steps: z.array(stepSchema).min(1, 'a playbook needs at least one step'),
  })
  .strict();

export type PlaybookConfig = z.output<typeof playbookSchema>;

export const playbooksSchema = z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'playbook names: letters, digits, "_", "-", "."'), playbookSchema);

export const runsSchema = z
  .object({
    /** Output kept per host and step; the rest is counted and dropped. */
    max_output_bytes: byteSize().prefault('64KiB'),
    default_concurrency: z.number().int().min(1).max(10_000).prefault(50),
    /** Stored runs older than this are pruned (the audit log is kept). */
    keep: duration().prefault('30d'),
  })
  .strict();
