// Variable parts of a message are masked as "<*>" (loghub's notation) so that lines of one
// kind group together: numbers, IPs (with port), hex ids, UUIDs, paths. Digits glued after
// letters ("workers2", "sha256") stay: they are usually names; a unit after a number
// ("12.5ms", "3kb") stays. A hand-written scanner, not a regex: it runs on every line of
// `opsctl logs analyze`, and a regex alternation tried at every position was the bottleneck.
const MASK = '<*>';

const isDigit = (c: number) => c >= 48 && c <= 57;
const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isHexLetter = (c: number) => (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
const isWord = (c: number) => isDigit(c) || isLetter(c) || c === 95; /* _ */
/** Characters that continue a numeric token: letters/digits and . : - _ */
const isTokenChar = (c: number) => isWord(c) || c === 46 || c === 58 || c === 45;
const isSpaceLike = (c: number) => c === 32 || c === 9 || c === 44 /* , */ || c === 41 /* ) */ || c === 93 /* ] */ || c === 59 /* ; */ || c === 34 /* " */ || c === 39; /* ' */

/** Where masking can start: a digit or a slash. Everything between is copied untouched. */
const INTERESTING = /[0-9/]/g;

const isHexChar = (c: number) => isDigit(c) || isHexLetter(c);

/** The message with its variable parts masked. */
export function templateOf(msg: string): string {
  const n = msg.length;
  let out = '';
  let last = 0;
  let i = 0;
  for (;;) {
    // A regex jump over plain text is much cheaper than looking at every character in JS.
    INTERESTING.lastIndex = i;
    if (INTERESTING.exec(msg) === null) break;
    i = INTERESTING.lastIndex - 1;
    const c = msg.charCodeAt(i);
    const prev = i > 0 ? msg.charCodeAt(i - 1) : 32;
    if (c === 47) {
      // A path: "/a/b..." at a token start, up to the next space-like character.
      if (!isWord(prev) && prev !== 46 && i + 1 < n && isWord(msg.charCodeAt(i + 1))) {
        let j = i + 1;
        let slashes = 1;
        while (j < n && !isSpaceLike(msg.charCodeAt(j))) {
          if (msg.charCodeAt(j) === 47) slashes++;
          j++;
        }
        if (slashes >= 2) {
          out += msg.slice(last, i) + MASK;
          last = i = j;
          continue;
        }
      }
      i++;
      continue;
    }
    if (isLetter(prev)) {
      // A digit inside a word: a long hex id ("deadbeef0123") is masked whole, a name
      // ("workers2", "sha256") is kept; either way skip to the end of the word.
      let ws = i - 1;
      while (ws > last && isWord(msg.charCodeAt(ws - 1))) ws--;
      let we = i;
      while (we < n && isWord(msg.charCodeAt(we))) we++;
      let hex = we - ws >= 12;
      for (let k = ws; hex && k < we; k++) if (!isHexChar(msg.charCodeAt(k))) hex = false;
      if (hex) {
        out += msg.slice(last, ws) + MASK;
        last = we;
      }
      i = we;
      continue;
    }
    // A "-" right before the number belongs to it when it follows a separator ("blk_-123").
    let start = i;
    if (prev === 45 && (i < 2 || !isLetter(msg.charCodeAt(i - 2)) || msg.charCodeAt(i - 2) === 95)) start = i - 1;
    let j = i;
    let letters = false;
    let nonHexLetter = false;
    while (j < n && isTokenChar(msg.charCodeAt(j))) {
      const d = msg.charCodeAt(j);
      if (isLetter(d)) {
        letters = true;
        if (!isHexLetter(d)) nonHexLetter = true;
      }
      j++;
    }
    // Trailing separators are punctuation, not part of the value ("port 22." / "id 7:").
    while (j > i + 1 && !isWord(msg.charCodeAt(j - 1))) j--;
    let end = j;
    if (letters) {
      const hexId = !nonHexLetter && j - i >= 8;
      const hexLiteral = c === 48 && (msg.charCodeAt(i + 1) | 32) === 120; /* 0x */
      if (!hexId && !hexLiteral) {
        // "12.5ms": mask only the leading number; "3rd": the same.
        end = i;
        while (end < j && (isDigit(msg.charCodeAt(end)) || ((msg.charCodeAt(end) === 46 || msg.charCodeAt(end) === 58 || msg.charCodeAt(end) === 44) && end + 1 < j && isDigit(msg.charCodeAt(end + 1))))) end++;
      }
    }
    out += msg.slice(last, start) + MASK;
    last = end;
    // Skip the rest of a word glued to the number (its unit) so it is not scanned again.
    i = end;
    while (i < j && isWord(msg.charCodeAt(i))) i++;
  }
  return last === 0 ? msg : out + msg.slice(last);
}

export interface TemplateCount {
  /** The cluster id, the same as `template_id` of the lines in `--records`. */
  id: string;
  template: string;
  count: number;
  /** The first message seen with this template. */
  sample: string;
  level?: string;
}
