/**
 * Keyword and phrase hits in text payloads (the "look for keywords" reader plugin): per list,
 * each word's count (case-insensitive, whole words, any script), with a finding when a list has
 * enough different hits. Default lists: macro-document lures, credentials, phishing language,
 * finance, ransom notes (lib/text/keyword_lists.ts); add lists from options or files.
 */
import type { Finding, Severity, StoqAPI } from "../core/engine/plugin.ts";
import { payloadText } from "./lib/ioc/extract.ts";
import { DEFAULT_LISTS } from "./lib/text/keyword_lists.ts";
import { type KeywordList, KeywordMatcher } from "./lib/text/keywords.ts";

const SEVERITIES = ["info", "low", "medium", "high", "critical"] as const;
const LIST_NAME = /^[a-z0-9][a-z0-9_.-]*$/;

/** Reads a word-list file: one word or phrase a line, `#` starts a comment. */
async function readList(name: string, path: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(
      `keywords: cannot read list file ${path} (list ${name}): ${(e as Error).message}; ` +
        "give a readable file with one word or phrase a line",
    );
  }
  return text.split(/\r?\n/).map((l) => l.replace(/(^|\s)#.*$/, "").trim()).filter(Boolean);
}

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  const listName = z.string().regex(LIST_NAME, "list names are lower case: letters, digits, _ . -");
  return stoq.plugin({
    name: "keywords",
    version: "1.0.0",
    description:
      "Keyword and phrase hits in text (phishing, credential, finance, macro-lure and ransom lists, or your own)",
    classes: ["worker"],
    options: {
      default_lists: z.boolean().default(true),
      lists: z.record(listName, z.array(z.string().min(1))).default({}),
      list_files: z.record(listName, z.string().min(1)).default({}),
      severity: z.record(listName, z.enum(SEVERITIES)).default({}),
      min_distinct: z.record(listName, z.number().int().positive()).default({}),
      max_bytes: z.number().int().positive().default(8 * 1024 * 1024),
    },
    create: async (opts) => {
      const words = new Map<string, string[]>();
      if (opts.default_lists) {
        for (const [name, l] of Object.entries(DEFAULT_LISTS)) words.set(name, [...l.words]);
      }
      // A list named like a default one adds to it.
      for (const [name, list] of Object.entries(opts.lists)) {
        words.set(name, [...words.get(name) ?? [], ...list]);
      }
      for (const [name, path] of Object.entries(opts.list_files)) {
        words.set(name, [...words.get(name) ?? [], ...await readList(name, path)]);
      }
      if (!words.size) {
        throw new Error("keywords: no word lists: keep default_lists, or give lists or list_files");
      }
      const lists: KeywordList[] = [...words].map(([name, w]) => ({ name, words: w }));
      const matcher = new KeywordMatcher(lists);
      if (matcher.unusable.length) {
        throw new Error(
          `keywords: these entries have no letters or digits and can never match: ${
            matcher.unusable.slice(0, 5).join(", ")
          }`,
        );
      }
      const severityOf = (name: string): Severity =>
        opts.severity[name] ?? DEFAULT_LISTS[name]?.severity ?? "low";
      const minOf = (name: string) =>
        opts.min_distinct[name] ?? DEFAULT_LISTS[name]?.min_distinct ?? 1;
      return {
        scan(payload) {
          const content = payload.content;
          const cut = content.length > opts.max_bytes;
          const text = payloadText(cut ? content.subarray(0, opts.max_bytes) : content);
          const hits = matcher.match(text);
          const result: Record<
            string,
            { hits: Record<string, number>; distinct: number; total: number }
          > = {};
          const findings: Finding[] = [];
          let total = 0;
          for (const { name } of lists) {
            const h = hits.get(name);
            if (!h) continue;
            const sorted = [...h].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
            const sum = sorted.reduce((n, [, c]) => n + c, 0);
            total += sum;
            result[name] = { hits: Object.fromEntries(sorted), distinct: h.size, total: sum };
            if (h.size >= minOf(name)) {
              findings.push({
                id: `keywords_${name}`,
                severity: severityOf(name),
                title: DEFAULT_LISTS[name]?.title ?? `text matches the keyword list ${name}`,
                detail: sorted.slice(0, 10).map(([w, c]) => `${w} (${c})`).join(", "),
              });
            }
          }
          const results: Record<string, unknown> = {
            lists: result,
            total_hits: total,
            characters_scanned: text.length,
          };
          if (cut) results.truncated = true;
          results.findings = findings;
          return { results };
        },
      };
    },
  });
};
