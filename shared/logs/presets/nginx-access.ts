import type { LineParser, ParserOptions } from '../record.js';
import { createCombinedAccessParser } from './combined-access.js';

/** nginx's default `combined` log_format (extra trailing fields are kept as `extra`). */
export function createNginxAccessParser(opts: ParserOptions = {}): LineParser {
  return createCombinedAccessParser('nginx_access', opts);
}
