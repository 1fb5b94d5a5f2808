/**
 * The rule sets shipped inside stoq (config/rules/), embedded at build time so that a compiled
 * binary needs no files beside it. Options name them as `builtin:<file>`.
 */
import dispatchRules from "../../../config/rules/dispatch.yar" with { type: "text" };
import stoqRules from "../../../config/rules/stoq.yar" with { type: "text" };
import typingRules from "../../../config/rules/typing.yar" with { type: "text" };
import { readRuleSources, type RuleProblem, type RuleSource } from "./rules.ts";

/** Embedded rule files by name. */
export const BUNDLED_RULES: Readonly<Record<string, string>> = {
  "dispatch.yar": dispatchRules,
  "stoq.yar": stoqRules,
  "typing.yar": typingRules,
};

const PREFIX = "builtin:";

/** Resolves rule paths, where `builtin:NAME` is an embedded rule file and others are paths. */
export async function resolveRules(
  paths: string[],
): Promise<{ sources: RuleSource[]; problems: RuleProblem[] }> {
  const sources: RuleSource[] = [];
  const problems: RuleProblem[] = [];
  for (const path of paths) {
    if (path.startsWith(PREFIX)) {
      const name = path.slice(PREFIX.length);
      const text = BUNDLED_RULES[name];
      if (text === undefined) {
        problems.push({
          file: path,
          message: `no such built-in rule file; built-in: ${
            Object.keys(BUNDLED_RULES).map((n) => PREFIX + n).join(", ")
          }`,
        });
      } else sources.push({ name: path, text });
      continue;
    }
    const read = await readRuleSources([path]);
    sources.push(...read.sources);
    problems.push(...read.problems);
  }
  return { sources, problems };
}
