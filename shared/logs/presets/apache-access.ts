import type { LineParser, ParserOptions } from '../record.js';
import { createCombinedAccessParser } from './combined-access.js';

/** Apache httpd's `combined` LogFormat (and `common`, which lacks referer and user agent). */
export function createApacheAccessParser(opts: ParserOptions = {}): LineParser {
  return createCombinedAccessParser('apache_access', opts);
}
