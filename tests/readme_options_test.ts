/**
 * Every option name the README gives exists: in the plugin table's option column, in the option
 * tables of each plugin's section, in `--plugin-opts plugin:option=` examples and in the TOML
 * examples (`[core]`, `[serve]` and plugin tables), checked against the plugins' own zod schemas. Every
 * built-in plugin has a row in the plugin table.
 */
import { deepEqual, ok } from "node:assert/strict";
import { CoreConfigSchema, ServeConfigSchema } from "../core/config.ts";
import { stoqAPI } from "../core/engine/api.ts";
import { allBuiltins } from "../plugins/index.ts";

const README = await Deno.readTextFile(new URL("../README.md", import.meta.url));
const LINES = README.split("\n");

/** Each built-in plugin's option names. */
const OPTIONS = new Map(
  (await allBuiltins()).map((f) => {
    const def = f(stoqAPI);
    return [def.name, new Set(Object.keys(def.optionsSchema.shape))];
  }),
);
const CORE = new Set(Object.keys(CoreConfigSchema.shape));
/** `[serve]`: stoq serve's table, not a plugin's. */
const SERVE = new Set(Object.keys(ServeConfigSchema.shape));
/** Plugins the README's own examples define (a user's plugin folder): not built-in. */
const EXAMPLES = new Set([...README.matchAll(/^\s*name: "([a-z0-9_]+)"/gm)].map((m) => m[1]));

/** Backticked names at the start of a table cell's items: `a`, `b` (default) → [a, b]. */
function cellNames(cell: string): string[] {
  // Defaults in parentheses may hold backticked values: drop them first.
  const names = cell.replace(/\([^)]*\)/g, "").matchAll(/`([a-z][a-z0-9_]*)`/g);
  return [...names].map((m) => m[1]);
}

let checked = 0;

function check(problems: string[], plugin: string, option: string, where: string): void {
  if (EXAMPLES.has(plugin)) return;
  checked++;
  const known = plugin === "core" ? CORE : plugin === "serve" ? SERVE : OPTIONS.get(plugin);
  if (!known) problems.push(`${where}: no plugin "${plugin}"`);
  else if (!known.has(option)) problems.push(`${where}: ${plugin} has no option "${option}"`);
}

Deno.test("README: the plugin table has a row for every built-in plugin, with its real options", () => {
  const problems: string[] = [];
  const rows = new Set<string>();
  for (const [i, line] of LINES.entries()) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    // | `name` | class | what it does | options |
    const m = /^`([a-z0-9_]+)`$/.exec(cells[1] ?? "");
    if (cells.length !== 6 || !m || !OPTIONS.has(m[1])) continue;
    rows.add(m[1]);
    for (const opt of cellNames(cells[4])) check(problems, m[1], opt, `README.md:${i + 1}`);
  }
  deepEqual(problems, []);
  deepEqual([...OPTIONS.keys()].filter((n) => !rows.has(n)).sort(), []);
});

Deno.test("README: option tables under a plugin's heading name that plugin's options", () => {
  const problems: string[] = [];
  checked = 0;
  let plugin: string | undefined;
  let inOptionTable = false;
  for (const [i, line] of LINES.entries()) {
    if (/^#{2,4} /.test(line)) {
      // "### `yara` (worker, dispatcher)", "### Routing: `route` (dispatcher)", "### `[core]`"
      const named = [...line.matchAll(/`\[?([a-z0-9_]+)\]?`/g)].map((m) => m[1]);
      plugin = named.find((n) => OPTIONS.has(n) || n === "core");
      inOptionTable = false;
      continue;
    }
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    if (/^\|\s*(option|key)s?\s*\|/i.test(line)) inOptionTable = true;
    else if (!line.startsWith("|")) inOptionTable = false;
    else if (inOptionTable && plugin && !/^-+$/.test(cells[1])) {
      for (const opt of cellNames(cells[1])) check(problems, plugin, opt, `README.md:${i + 1}`);
    }
  }
  deepEqual(problems, []);
  ok(checked > 50, `only ${checked} options were found in option tables: is the parser lost?`);
});

Deno.test("README: --plugin-opts examples and TOML examples use real options", () => {
  const problems: string[] = [];
  for (const [i, line] of LINES.entries()) {
    for (
      const m of line.matchAll(/(?:--plugin-opts|^\s{2,})((?:\s+[a-z0-9_]+:[a-z0-9_]+=\S*)+)/g)
    ) {
      for (const o of m[1].matchAll(/([a-z0-9_]+):([a-z0-9_]+)=/g)) {
        check(problems, o[1], o[2], `README.md:${i + 1}`);
      }
    }
  }
  let fence: string | undefined;
  let table: string | undefined;
  for (const [i, line] of LINES.entries()) {
    const f = /^```(\w*)/.exec(line);
    if (f) {
      fence = fence === undefined ? f[1] : undefined;
      table = undefined;
      continue;
    }
    if (fence !== "toml") continue;
    const t = /^\[([a-z0-9_.]+)\]\s*$/.exec(line);
    if (t) {
      table = t[1];
      continue;
    }
    if (/^\[\[/.test(line)) {
      table = undefined; // [[route.rules]]: the rule's own fields
      continue;
    }
    const kv = /^([a-z0-9_]+)\s*=/.exec(line);
    if (kv && table) check(problems, table, kv[1], `README.md:${i + 1}`);
  }
  deepEqual(problems, []);
});
