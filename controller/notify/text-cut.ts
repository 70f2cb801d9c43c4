/**
 * Cutting message text to a channel's byte limit without breaking what people read: never in the
 * middle of a grapheme (an emoji ZWJ sequence, a flag, a letter with combining marks), never
 * ending on a dangling zero-width joiner, and never leaving a right-to-left embedding or isolate
 * open (its closing mark is re-added, so the rest of the robot's message is not mirrored).
 */

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Bidi openers and the closer each needs: LRE/RLE/LRO/RLO → PDF, LRI/RLI/FSI → PDI. */
const OPENERS: Record<string, string> = { '\u202A': '\u202C', '\u202B': '\u202C', '\u202D': '\u202C', '\u202E': '\u202C', '\u2066': '\u2069', '\u2067': '\u2069', '\u2068': '\u2069' };
const CLOSERS = new Set(['\u202C', '\u2069']);
/** Joiners and selectors that mean nothing at the very end of a cut. */
const TRAILING_JUNK = /[\u200D\uFE0E\uFE0F\u200C]+$/u;

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

/**
 * The longest prefix of `s` of whole graphemes that, with the closing marks of the bidi
 * embeddings it leaves open and `ellipsis` (when cut), fits in `maxBytes` UTF-8 bytes.
 */
export function cutGraphemes(s: string, maxBytes: number, ellipsis = ''): string {
  if (utf8(s) <= maxBytes) return s;
  const stack: string[] = [];
  let out = '';
  let used = 0;
  const budget = maxBytes - utf8(ellipsis);
  for (const { segment } of segmenter.segment(s)) {
    const b = utf8(segment);
    // What this grapheme would change on the bidi stack, to reserve its closers.
    const next = stack.slice();
    for (const ch of segment) {
      if (OPENERS[ch]) next.push(OPENERS[ch]);
      else if (CLOSERS.has(ch)) {
        const i = next.lastIndexOf(ch);
        if (i >= 0) next.splice(i, 1);
      }
    }
    const closers = next.reduce((n, c) => n + utf8(c), 0);
    if (used + b + closers > budget) break;
    out += segment;
    used += b;
    stack.splice(0, stack.length, ...next);
  }
  out = out.replace(TRAILING_JUNK, '');
  return out + ellipsis + stack.reverse().join('');
}
