import { OpsError } from '../errors.js';
import { isPresetName, PRESET_NAMES, PRESETS } from './presets/index.js';
import type { LineParser, ParserOptions } from './record.js';
import { createRegexParser } from './regex-parser.js';

/** How a source says which parser to use: a preset name or a regex with named groups. */
export type ParserSpec = { preset: string; regex?: undefined } | { regex: string; preset?: undefined };

/** Builds the parser for a spec; throws OPS_ERR_LOGS_PRESET / OPS_ERR_LOGS_REGEX on bad input. */
export function createParser(spec: ParserSpec | undefined, opts: ParserOptions = {}): LineParser {
  if (!spec || (spec.preset === undefined && spec.regex === undefined)) return PRESETS.auto.create(opts);
  if (spec.regex !== undefined) return createRegexParser(spec.regex, opts);
  const name = spec.preset!;
  if (!isPresetName(name)) throw new OpsError('OPS_ERR_LOGS_PRESET', `unknown preset "${name}" (one of ${PRESET_NAMES.join(', ')})`);
  return PRESETS[name].create(opts);
}
