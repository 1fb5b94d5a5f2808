/**
 * Counts keyword and phrase hits in text, case-insensitively and on whole words, for any script:
 * the text is lower-cased once and cut into word tokens (letters, digits and marks of any
 * script; an apostrophe inside a word is kept), and each keyword is matched as a sequence of
 * tokens. So "one-time code" matches "One time code", "sign in" never matches "design input",
 * and overlapping phrases ("verify" and "verify your account") each count. Han, kana and Thai
 * are written without spaces: each of their characters is a token, so a keyword in those
 * scripts matches wherever its characters appear in sequence.
 */

/** One list to look for. */
export interface KeywordList {
  name: string;
  words: readonly string[];
}

interface Entry {
  first: string;
  rest: string[];
  restHashes: number[];
  list: string;
  word: string;
}

// Character classes by UTF-16 code unit, filled in on first sight: the scan is a plain loop
// over char codes (several times faster here than a Unicode regex over the text).
const WORD = 1;
const OTHER = 2;
const UNSPACED = 3; // Han, kana, Thai: written without spaces, so each character is a word
const classes = new Uint8Array(65536);
const IS_WORD = /^[\p{L}\p{N}\p{M}]$/u;
const IS_UNSPACED = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}]$/u;
for (let c = 0; c < 128; c++) {
  classes[c] = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)
    ? WORD
    : OTHER;
}

function classOf(c: number): number {
  let k = classes[c];
  if (k === 0) {
    // Surrogates are taken for word characters: astral letters (and, harmlessly, emoji).
    const ch = String.fromCharCode(c);
    k = c >= 0xd800 && c <= 0xdfff
      ? WORD
      : IS_UNSPACED.test(ch)
      ? UNSPACED
      : IS_WORD.test(ch)
      ? WORD
      : OTHER;
    classes[c] = k;
  }
  return k;
}

/** FNV-1a over UTF-16 code units, 32 bits. */
function hashOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * Calls `each(text, start, end, hash)` for each word token of the lower-cased `text`, in order.
 * The token is `text.slice(start, end)`; it is hashed as it is scanned and only sliced by the
 * caller when the hash is one it looks for, so most words cost no allocation.
 */
function eachToken(
  text: string,
  each: (s: string, start: number, end: number, hash: number) => void,
): void {
  let s = text.toLowerCase();
  if (s.includes("\u2019")) s = s.replaceAll("\u2019", "'");
  const n = s.length;
  let start = -1;
  let h = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 0x20;
    const k = c < 128 ? classes[c] : classOf(c);
    if (k === WORD) {
      if (start < 0) {
        start = i;
        h = 0x811c9dc5;
      }
      h = Math.imul(h ^ c, 16777619);
      continue;
    }
    // An apostrophe between two word characters is part of the word ("mother's").
    if (c === 0x27 && start >= 0 && i + 1 < n) {
      const next = s.charCodeAt(i + 1);
      if ((next < 128 ? classes[next] : classOf(next)) === WORD) {
        h = Math.imul(h ^ c, 16777619);
        continue;
      }
    }
    if (start >= 0) {
      each(s, start, i, h >>> 0);
      start = -1;
    }
    if (k === UNSPACED) each(s, i, i + 1, Math.imul(0x811c9dc5 ^ c, 16777619) >>> 0);
  }
}

/** The lower-case word tokens of `text`. */
export function tokens(text: string): string[] {
  const out: string[] = [];
  eachToken(text, (s, a, b) => out.push(s.slice(a, b)));
  return out;
}

/** Hits per list: keyword (as configured) → count. */
export type Hits = Map<string, Map<string, number>>;

/** A compiled set of lists. */
export class KeywordMatcher {
  private readonly byFirst = new Map<number, Entry[]>();
  /** Keywords that have no word characters at all, and so can never match. */
  readonly unusable: string[] = [];

  constructor(lists: readonly KeywordList[]) {
    for (const list of lists) {
      for (const word of new Set(list.words)) {
        const t = tokens(word);
        if (!t.length) {
          this.unusable.push(`${list.name}: ${JSON.stringify(word)}`);
          continue;
        }
        const h = hashOf(t[0]);
        const entries = this.byFirst.get(h) ?? [];
        const rest = t.slice(1);
        entries.push({ first: t[0], rest, restHashes: rest.map(hashOf), list: list.name, word });
        this.byFirst.set(h, entries);
      }
    }
  }

  /** Counts the hits of every list in `text`. */
  match(text: string): Hits {
    const hits: Hits = new Map();
    const hit = (e: Entry) => {
      const list = hits.get(e.list) ?? new Map<string, number>();
      list.set(e.word, (list.get(e.word) ?? 0) + 1);
      hits.set(e.list, list);
    };
    // Phrases under way: the entry and how many of its remaining tokens matched so far.
    let pending: { e: Entry; at: number }[] = [];
    const byFirst = this.byFirst;
    const token = (s: string, a: number, b: number, hash: number) => {
      if (pending.length) {
        const still: typeof pending = [];
        for (const p of pending) {
          if (p.e.restHashes[p.at] !== hash || p.e.rest[p.at] !== s.slice(a, b)) continue;
          if (p.at + 1 === p.e.rest.length) hit(p.e);
          else still.push({ e: p.e, at: p.at + 1 });
        }
        pending = still;
      }
      const entries = byFirst.get(hash);
      if (!entries) return;
      const t = s.slice(a, b);
      for (const e of entries) {
        if (e.first !== t) continue;
        if (e.rest.length === 0) hit(e);
        else pending.push({ e, at: 0 });
      }
    };
    // Most words are no keyword's first word: they are never sliced into strings.
    eachToken(text, (s, a, b, hash) => {
      if (pending.length || byFirst.has(hash)) token(s, a, b, hash);
    });
    return hits;
  }
}
