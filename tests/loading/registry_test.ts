/**
 * The registry loads a built-in plugin only when a run needs it: each key of BUILTIN_PLUGINS is
 * its plugin's name, a plugin folder's module of the same name overrides it without loading it,
 * and names, hints and listings see every plugin.
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { allBuiltins, BUILTIN_PLUGINS } from "../../plugins/index.ts";
import { stoqAPI } from "../../core/engine/api.ts";
import { Registry } from "../../core/loading/registry.ts";
import { tempDir } from "../helpers.ts";

Deno.test("registry: each built-in is loaded by its own name", async () => {
  const names = (await allBuiltins()).map((f) => f(stoqAPI).name);
  deepEqual(names, Object.keys(BUILTIN_PLUGINS));
  ok(names.length >= 50, `${names.length} built-ins`);
});

Deno.test("registry: a built-in is loaded on need; names, has and hints know the rest", async () => {
  const reg = await Registry.create(BUILTIN_PLUGINS, [], true);
  ok(reg.has("pdf") && reg.has("hash"));
  equal(reg.get("pdf"), undefined);
  await reg.need(["hash", "no_such_plugin"]);
  equal(reg.get("hash")?.definition.name, "hash");
  equal(reg.get("hash")?.source, "built-in");
  equal(reg.get("pdf"), undefined);
  ok(reg.names().includes("pdf"));
  match(reg.hint("pfd"), /pdf/);
  ok(!reg.has("no_such_plugin"));
  // Listing every plugin needs every one loaded first.
  let threw = false;
  try {
    reg.all();
  } catch {
    threw = true;
  }
  ok(threw, "all() before needAll() must throw");
  await reg.needAll();
  deepEqual(reg.all().map((p) => p.definition.name), reg.names());
});

Deno.test("registry: a plugin folder's module of a built-in's name wins, and the built-in is not loaded", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(
    join(dir, "hash.ts"),
    `export default (stoq) => stoq.plugin({ name: "hash", version: "9.9.9", description: "mine",
  classes: ["worker"], options: {}, create: () => ({ scan: () => ({ results: { mine: true } }) }) });\n`,
  );
  const reg = await Registry.create(BUILTIN_PLUGINS, [dir], true);
  await reg.need(["hash"]);
  equal(reg.get("hash")?.definition.version, "9.9.9");
  equal(reg.get("hash")?.source, join(dir, "hash.ts"));
});

Deno.test("registry: a built-in whose module defines another name is an error, not a silent swap", async () => {
  const reg = await Registry.create(
    { hash: async () => (await import("../../plugins/entropy.ts")).default },
    [],
    true,
  );
  await rejects(reg.need(["hash"]), /built-in plugin hash: its module defines "entropy"/);
});
