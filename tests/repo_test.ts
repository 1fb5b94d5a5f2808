/**
 * Housekeeping of the repository itself: what package.json declares is what the code uses, and no
 * test bounds elapsed time (speed is measured by scripts/bench, where a loaded machine cannot
 * fail CI).
 */
import { deepEqual } from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const pkg = JSON.parse(await Deno.readTextFile(new URL("package.json", ROOT))) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

async function* files(dir: URL, ext: RegExp): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const url = new URL(e.isDirectory ? `${e.name}/` : e.name, dir);
    if (e.isDirectory) yield* files(url, ext);
    else if (ext.test(e.name)) yield url;
  }
}

/** Bare specifiers imported (statically or by a literal dynamic import) under `dirs`. */
async function importedPackages(dirs: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const dir of dirs) {
    for await (const url of files(new URL(dir, ROOT), /\.ts$/)) {
      const text = await Deno.readTextFile(url);
      const specs = text.matchAll(/(?:from\s+|import\s*\(\s*)"((?:@[\w.-]+\/)?[\w.-]+)[^"]*"/g);
      for (const [, name] of specs) found.add(name);
    }
  }
  return found;
}

Deno.test("package.json: every dependency is imported by stoq's code; the launcher's deno is one", async () => {
  const used = await importedPackages(["core/", "plugins/"]);
  // ./stoq runs node_modules/deno/deno: it is needed to run stoq, not only to develop it.
  used.add("deno");
  deepEqual(Object.keys(pkg.dependencies).filter((d) => !used.has(d)), []);
  deepEqual(Object.keys(pkg.devDependencies).filter((d) => d === "deno"), []);
});

Deno.test("tests: none asserts an upper bound on elapsed time (scripts/bench measures speed)", async () => {
  const found: string[] = [];
  for await (const url of files(new URL("tests/", ROOT), /_test\.ts$/)) {
    const lines = (await Deno.readTextFile(url)).split("\n");
    // Names that hold a time: `const ms = performance.now() - start`, `started = Date.now()`.
    const timers = new Set<string>();
    for (const line of lines) {
      const m = /(?:const|let)\s+(\w+)\s*=\s*(?:Date|performance)\.now\(\)/.exec(line);
      if (m) timers.add(m[1]);
    }
    for (const [i, line] of lines.entries()) {
      if (!/\b(ok|assert|equal|deepEqual)\(/.test(line)) continue;
      const elapsed = /(?:Date|performance)\.now\(\)\s*-\s*\w+\s*</.test(line) ||
        [...timers].some((t) => new RegExp(`\\b${t}\\s*<`).test(line));
      if (elapsed) {
        found.push(`${url.pathname.slice(ROOT.pathname.length)}:${i + 1}: ${line.trim()}`);
      }
    }
  }
  deepEqual(found, []);
});
