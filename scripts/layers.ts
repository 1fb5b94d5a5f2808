/**
 * Checks the layering of core/ (README "Where things are") on Deno's own module graph
 * (`deno info --json`), type-only imports included:
 * - no import runs up a layer: core/ root utilities < core/engine < core/loading < core/run <
 *   core/cli (a module may import its own layer and the layers below it);
 * - no import cycle among core/ modules;
 * - core/ imports nothing from plugins/ but plugins/index.ts (the built-in registration).
 * Prints each breach with file and line and exits 1 when there is any.
 *
 * Usage: ./node_modules/deno/deno run --allow-read --allow-run scripts/layers.ts
 */
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const DENO = `${ROOT}/node_modules/deno/deno`;
const LAYERS = ["engine", "loading", "run", "cli"];

interface Dep {
  specifier: string;
  code?: { specifier: string; span: { start: { line: number } } };
  type?: { specifier: string; span: { start: { line: number } } };
}
interface Module {
  specifier: string;
  dependencies?: Dep[];
}

/** The layer of a repository path under core/: 0 for root utilities, 1.. for LAYERS. */
function layer(path: string): number {
  const parts = path.split("/");
  if (parts.length === 2) return 0;
  const i = LAYERS.indexOf(parts[1]);
  if (i < 0) throw new Error(`${path}: core/${parts[1]}/ is not a known layer (${LAYERS})`);
  return i + 1;
}
const layerName = (n: number) => n === 0 ? "core/ (utilities)" : `core/${LAYERS[n - 1]}/`;

async function graph(root: string): Promise<Module[]> {
  const out = await new Deno.Command(DENO, {
    args: ["info", "--json", root],
    cwd: ROOT,
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`deno info ${root} failed`);
  return (JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: Module[] }).modules;
}

function repoPath(specifier: string): string | undefined {
  if (!specifier.startsWith("file://")) return undefined;
  const p = relative(ROOT, fileURLToPath(specifier));
  return p.startsWith("..") || p.startsWith("node_modules/") ? undefined : p;
}

/** Every core/ module: main.ts's graph, plus any core file main.ts does not reach. */
async function coreEdges(): Promise<Map<string, { to: string; line: number }[]>> {
  const edges = new Map<string, { to: string; line: number }[]>();
  const add = (modules: Module[]) => {
    for (const m of modules) {
      const from = repoPath(m.specifier);
      if (!from?.startsWith("core/") || edges.has(from)) continue;
      const list: { to: string; line: number }[] = [];
      for (const d of m.dependencies ?? []) {
        for (const r of [d.code, d.type]) {
          const to = r && repoPath(r.specifier);
          if (to && !list.some((e) => e.to === to)) list.push({ to, line: r.span.start.line + 1 });
        }
      }
      edges.set(from, list);
    }
  };
  add(await graph("main.ts"));
  for await (const f of walk(`${ROOT}/core`)) {
    const p = relative(ROOT, f);
    if (p.endsWith(".ts") && !edges.has(p)) add(await graph(p));
  }
  return edges;
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) yield* walk(`${dir}/${e.name}`);
    else yield `${dir}/${e.name}`;
  }
}

/** Strongly connected components with more than one module (or a module importing itself). */
function cycles(edges: Map<string, { to: string }[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const { to } of edges.get(v) ?? []) {
      if (!edges.has(to)) continue;
      if (!idx.has(to)) {
        visit(to);
        low.set(v, Math.min(low.get(v)!, low.get(to)!));
      } else if (on.has(to)) low.set(v, Math.min(low.get(v)!, idx.get(to)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (edges.get(v) ?? []).some((e) => e.to === v)) found.push(scc.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!idx.has(v)) visit(v);
  return found;
}

const edges = await coreEdges();
const problems: string[] = [];
for (const [from, list] of [...edges].sort()) {
  for (const { to, line } of list) {
    if (to.startsWith("plugins/") && to !== "plugins/index.ts") {
      problems.push(`${from}:${line}: imports ${to}; core/ may import only plugins/index.ts`);
    } else if (to.startsWith("core/") && layer(to) > layer(from)) {
      problems.push(
        `${from}:${line}: imports ${to}, from ${layerName(layer(to))} above ${
          layerName(layer(from))
        }`,
      );
    }
  }
}
for (const c of cycles(edges)) problems.push(`import cycle: ${c.join(" → ")}`);
for (const p of problems) console.log(p);
console.log(
  `layers: ${edges.size} core modules, ${problems.length} problem(s)` +
    (problems.length ? "" : ": no import runs up a layer, no cycle, no plugin imported"),
);
Deno.exit(problems.length ? 1 : 0);
