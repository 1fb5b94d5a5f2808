/**
 * `stoq show RESULT.json|SCAN_ID|-`: renders stored results, as a tree (default) or JSON. A
 * reference that names a file is read (one document, JSON lines, or a dead-letter file); `-`
 * reads stdin; anything else is a scan id asked of the result store (sqlite by default).
 */
import { UsageError, UserError } from "../errors.ts";
import type { CliArgs } from "./args.ts";
import { writeAll } from "./output.ts";
import { setup } from "./setup.ts";
import { openResultStore, type OpenStore } from "./store.ts";
import type { AnyDoc } from "./view/facts.ts";

/**
 * The result documents in `text`: one JSON document, or one per line; a dead-letter file's
 * `response` is its document. `source` names the text in errors.
 */
export function parseResults(text: string, source: string): AnyDoc[] {
  let values: unknown[];
  try {
    values = [JSON.parse(text)];
  } catch {
    values = [];
    for (const [i, line] of text.split("\n").entries()) {
      if (!line.trim()) continue;
      try {
        values.push(JSON.parse(line));
      } catch (e) {
        throw new UserError(
          `${source}: line ${i + 1} is not JSON (${(e as Error).message}); ` +
            `give a result document, JSON lines of them, or a scan id`,
        );
      }
    }
  }
  return values.map((v, i) => {
    const doc = v && typeof v === "object" && "response" in v && "failed_connectors" in v
      ? (v as { response: unknown }).response
      : v;
    if (!doc || typeof doc !== "object" || !Array.isArray((doc as AnyDoc).results)) {
      const which = values.length > 1 ? ` (document ${i + 1})` : "";
      throw new UserError(`${source}${which} is not a stoq result document (no "results" list)`);
    }
    return doc as AnyDoc;
  });
}

async function readStdinText(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of Deno.stdin.readable) chunks.push(c);
  return new TextDecoder().decode(await new Blob(chunks as BlobPart[]).arrayBuffer());
}

async function readFileIfThere(path: string): Promise<string | undefined> {
  try {
    if (!(await Deno.stat(path)).isFile) return undefined;
  } catch {
    return undefined;
  }
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** `stoq show`; returns the exit status. */
export async function showCommand(args: CliArgs): Promise<number> {
  if (!args.paths.length) {
    throw new UsageError("stoq show needs a RESULT.json, a scan id, or - for stdin");
  }
  const { config, home, sources } = await setup(args);
  let store: OpenStore | undefined;
  const docs: AnyDoc[] = [];
  try {
    for (const ref of args.paths) {
      if (ref === "-") {
        docs.push(...parseResults(await readStdinText(), "stdin"));
        continue;
      }
      const text = await readFileIfThere(ref);
      if (text !== undefined) {
        docs.push(...parseResults(text, ref));
        continue;
      }
      store ??= await openResultStore({
        config,
        home,
        sources,
        store: args.store ?? "sqlite",
        db: args.db,
        readOnly: true,
        command: "show",
      });
      const { host, store: s, where } = store;
      const get = s.instance.get_result;
      if (!get) {
        throw new UsageError(`--store: ${s.name} cannot look up a scan by its id (try sqlite)`);
      }
      const found = await host.invoke(s, (call) => get(ref, call));
      if (!found.ok) throw new UserError(`stoq show: ${found.error}`);
      if (!found.value) {
        throw new UserError(`no file ${ref}, and no stored scan with that id${where}`);
      }
      docs.push(...parseResults(found.value.result, `scan ${ref}`));
    }
  } finally {
    await store?.host.closeAll();
  }
  const format = args.format ?? "tree";
  if (format === "tree") {
    const { renderTree, useColor } = await import("./view/tree.ts");
    const color = useColor(Deno.stdout.isTerminal());
    await writeAll(docs.map((d) => renderTree(d, color)).join("\n"));
  } else {
    const indent = format === "json" ? 4 : undefined;
    for (const d of docs) await writeAll(JSON.stringify(d, null, indent) + "\n");
  }
  return 0;
}
