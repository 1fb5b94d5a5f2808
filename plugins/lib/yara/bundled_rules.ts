/**
 * The rule sets shipped inside stoq (config/rules/), embedded at build time so that a compiled
 * binary needs no files beside it. Options name them as `builtin:<file>` (see sources.ts).
 */
import dispatchRules from "../../../config/rules/dispatch.yar" with { type: "text" };
import stoqRules from "../../../config/rules/stoq.yar" with { type: "text" };
import typingRules from "../../../config/rules/typing.yar" with { type: "text" };
import typingHeadRules from "../../../config/rules/typing_head.yar" with { type: "text" };

/** Embedded rule files by name. */
export const BUNDLED_RULES: Readonly<Record<string, string>> = {
  "dispatch.yar": dispatchRules,
  "stoq.yar": stoqRules,
  "typing.yar": typingRules,
  "typing_head.yar": typingHeadRules,
};
