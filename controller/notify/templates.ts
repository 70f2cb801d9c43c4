import { readFileSync } from 'node:fs';
import { Liquid, type Template } from 'liquidjs';
import type { ReceiverConfig } from '../../shared/config/alerting.js';
import { errorLine, OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { DEFAULT_ALERT_TEMPLATES } from './default-templates.js';
import type { TemplateOverrides } from './template.js';

/**
 * Message templates per receiver in Liquid (liquidjs): a template language made for templates
 * written by people who must not run code — no JavaScript, only variables, filters, if and for.
 * Includes and layouts resolve against an empty in-memory map (never the file system), own
 * properties only (no prototype walking), and each render is bounded in time and memory.
 *
 * A receiver's `template_file` holds the block of one alert (the frame, the truncation and the
 * "… N more" line stay ours, so byte limits hold whatever the template prints). Files are read
 * at start and again on SIGHUP (`reload()`); a file that no longer reads or parses keeps the
 * receiver's previous template and is logged.
 */
export class TemplateStore {
  private readonly engine = new Liquid({
    templates: {},
    ownPropertyOnly: true,
    strictFilters: true,
    renderLimit: 1000,
    memoryLimit: 10_000_000,
    parseLimit: 1_000_000,
    cache: false,
  });
  private readonly compiled = new Map<string, Template[]>();
  private readonly defaults: Record<string, Template[]> = {};
  private readonly log: Logger | undefined;

  constructor(
    private readonly receivers: readonly ReceiverConfig[],
    logger?: Logger,
  ) {
    this.log = logger?.child({ component: 'notify.templates' });
    for (const lang of ['zh', 'en'] as const) {
      for (const style of ['markdown', 'text'] as const) this.defaults[`${lang}:${style}`] = this.engine.parse(DEFAULT_ALERT_TEMPLATES[lang][style]);
    }
    const problems = this.load(true);
    if (problems.length) throw new OpsError('OPS_ERR_TEMPLATE', problems.join('; '));
  }

  /** Re-reads every template file; returns the problems (files that keep their previous template). */
  reload(): string[] {
    const problems = this.load(false);
    this.log?.info({ files: this.compiled.size, problems: problems.length }, problems.length ? 'templates reloaded with problems; previous ones kept' : 'templates reloaded');
    return problems;
  }

  private load(first: boolean): string[] {
    const problems: string[] = [];
    for (const r of this.receivers) {
      if (!r.template_file) continue;
      try {
        const text = readFileSync(r.template_file, 'utf8');
        this.compiled.set(r.name, this.engine.parse(text, r.template_file));
      } catch (err) {
        const why = `receiver ${r.name}: template ${r.template_file}: ${errorLine(err)}`;
        problems.push(why);
        if (!first) this.log?.error({ receiver: r.name, file: r.template_file, err: errorLine(err) }, 'template file not reloaded; previous template kept');
      }
    }
    return problems;
  }

  /** The overrides a receiver renders with: its file's template, else its language's default, plus its inline title. */
  for(r: ReceiverConfig, style: 'markdown' | 'text' | 'html'): TemplateOverrides | undefined {
    const tpl = this.compiled.get(r.name) ?? (r.language !== 'both' && style !== 'html' ? this.defaults[`${r.language}:${style}`] : undefined);
    const base: TemplateOverrides = { ...(r.template ?? {}), language: r.language };
    if (!tpl) return base;
    return {
      ...base,
      alertFn: (vars) => {
        try {
          const out = this.engine.renderSync(tpl, vars) as string;
          return out.endsWith('\n') ? out : `${out}\n`;
        } catch (err) {
          // A template that fails at run time (a render limit) must not lose the alert: say so and fall back.
          this.log?.warn({ receiver: r.name, err: errorLine(err) }, 'template failed; default block used');
          return undefined;
        }
      },
    };
  }

  /** Checks a template text (for config validation and tests). */
  check(text: string, file = 'template'): string | undefined {
    try {
      this.engine.parse(text, file);
      return undefined;
    } catch (err) {
      return errorLine(err);
    }
  }
}
