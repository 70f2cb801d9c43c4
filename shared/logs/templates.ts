// Variable parts of a message, masked as "<*>" (loghub's notation) so that lines of one kind
// group together: IPs (with port), UUIDs, hex ids, paths, quoted values, emails, numbers.
// Digits glued after letters ("workers2", "sha256") stay: they are usually names; a short
// unit after a number ("12.5ms", "3kb") stays.
const VARIABLE = /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b|\b0x[0-9a-fA-F]+\b|\b(?=[a-f]*\d)[0-9a-f]{12,}\b|(?<![\w/.~-])(?:\/[\w.@%+~-]+){2,}\/?|[\w.+-]+@[\w-]+\.[\w.-]+|(?<![A-Za-z])-?\d+(?:[.:,]\d+)*(?=[A-Za-z]{0,2}\b|[^A-Za-z0-9]|$)/g;
const MASK = '<*>';

/** The message with its variable parts masked. */
export function templateOf(message: string): string {
  return message.replace(VARIABLE, MASK);
}

export interface TemplateCount {
  template: string;
  count: number;
  /** The first message seen with this template. */
  sample: string;
  level?: string;
}

/**
 * Counts messages per template with bounded memory: past `maxTemplates` distinct templates, new
 * ones are counted together under `otherCount` instead of growing the map.
 */
export class TemplateCounter {
  private readonly map = new Map<string, TemplateCount>();
  otherCount = 0;

  constructor(private readonly maxTemplates = 20_000) {}

  add(message: string, level?: string): void {
    const t = templateOf(message.length > 2000 ? message.slice(0, 2000) : message);
    const hit = this.map.get(t);
    if (hit) {
      hit.count++;
      return;
    }
    if (this.map.size >= this.maxTemplates) {
      this.otherCount++;
      return;
    }
    this.map.set(t, { template: t, count: 1, sample: message.slice(0, 500), ...(level ? { level } : {}) });
  }

  get size(): number {
    return this.map.size;
  }

  top(n: number): TemplateCount[] {
    return [...this.map.values()].sort((a, b) => b.count - a.count || (a.template < b.template ? -1 : 1)).slice(0, n);
  }
}
