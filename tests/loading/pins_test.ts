/** Unit tests of pins, the module cache, TypeScript transpiling and permission grants. */
import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { CoreConfigSchema } from "../../core/config.ts";
import {
  declared,
  diffPermissions,
  refusals,
  workerPermissions,
} from "../../core/loading/permissions.ts";
import { normalizePermissions } from "../../core/engine/permissions.ts";
import { dataUrl, isTypeScript, moduleJavaScript } from "../../core/loading/source.ts";
import {
  cachedModule,
  parsePinnedRef,
  PinMismatchError,
  pinnedModule,
  readLock,
  sha256Of,
  writeLock,
} from "../../core/loading/pins.ts";
import { tempDir } from "../helpers.ts";
import { servePlugins, sha256Text } from "../plugin_url_server.ts";

Deno.test("URL#sha256= pins: parsed, and a URL without a pin is refused", () => {
  const sha = "ab".repeat(32);
  deepEqual(parsePinnedRef(`https://x.org/p.js#sha256=${sha.toUpperCase()}`, "cli"), {
    url: "https://x.org/p.js",
    sha256: sha,
    from: "cli",
  });
  equal(parsePinnedRef("hash", "cli"), undefined);
  throws(() => parsePinnedRef("https://x.org/p.js", "cli"), /is not pinned: add #sha256=/);
  throws(() => parsePinnedRef("https://x.org/p.js#sha256=abc", "cli"), /is not pinned/);
});

Deno.test("pinned bytes: fetched once and cached; other bytes refused and never cached; damage detected", async () => {
  const srv = servePlugins();
  try {
    const home = await tempDir("stoq-home-");
    const v1 = "export default 1;\n";
    const url = srv.put("/m.js", v1);
    const ref = { url, sha256: sha256Text(v1), name: "m", from: "the lock file" };
    equal(new TextDecoder().decode(await pinnedModule(home, ref)), v1);
    equal(new TextDecoder().decode(await pinnedModule(home, ref)), v1);
    equal(srv.hits("/m.js"), 1, "the second load came from the cache");

    srv.put("/m.js", "export default 2;\n");
    const other = await tempDir("stoq-home-");
    const err = await pinnedModule(other, ref).catch((e) => e);
    ok(err instanceof PinMismatchError);
    match(
      err.message,
      /plugin m \(http:.*\/m\.js\) refused: the module now has sha256 [0-9a-f]{64}, but the lock file pins/,
    );
    match(err.message, /stoq plugin update m/);
    equal(cachedModule(other, sha256Text("export default 2;\n")), undefined);

    // A cache file that does not hash to its name is removed, and the pin fetched again.
    await Deno.writeTextFile(`${home}/plugin-cache/${ref.sha256}`, "export default 666;\n");
    equal(cachedModule(home, ref.sha256), undefined);
    await rejects(pinnedModule(home, ref), PinMismatchError);

    await srv.stop();
    await rejects(pinnedModule(other, ref), /cannot fetch http:\/\/127\.0\.0\.1:\d+\/m\.js/);
  } finally {
    await srv.stop();
  }
});

Deno.test("the lock file: round trip, absent is empty, damage is reported", async () => {
  const home = await tempDir("stoq-home-");
  deepEqual(readLock(home), { lockfile_version: 1, plugins: {} });
  const entry = {
    url: "https://x.org/a.js",
    sha256: sha256Of(new TextEncoder().encode("a")),
    module_name: "a",
    version: "1",
    added: "2026-11-22T00:00:00.000Z",
    updated: "2026-11-22T00:00:00.000Z",
  };
  await writeLock(home, { lockfile_version: 1, plugins: { b: entry, a: entry } });
  deepEqual(Object.keys(readLock(home).plugins), ["a", "b"]);
  await Deno.writeTextFile(`${home}/plugins.lock.json`, "{ not json");
  throws(() => readLock(home), /plugin lock file .* is damaged/);
});

Deno.test("TypeScript is transpiled to JavaScript that imports from a data: URL", async () => {
  ok(isTypeScript("https://x.org/p.ts?v=1"));
  ok(isTypeScript("/tmp/p.mts"));
  ok(!isTypeScript("https://x.org/p.js"));
  const ts = `import type { StoqAPI } from "../../core/engine/plugin.ts";
enum Mode { Fast = 1 }
export default (n: number): number => n * Mode.Fast * 2;
`;
  const js = await moduleJavaScript(new TextEncoder().encode(ts), "https://x.org/p.ts");
  ok(!js.includes("import"), js);
  equal((await import(dataUrl(js))).default(21), 42);
  await rejects(
    moduleJavaScript(new TextEncoder().encode("let x: = ;"), "https://x.org/bad.ts"),
    /https:\/\/x\.org\/bad\.ts is not valid TypeScript/,
  );
  await rejects(moduleJavaScript(new Uint8Array([0xff, 0xfe]), "x.js"), /not UTF-8 text/);
});

Deno.test("permissions: declared ones are checked, and granted by [core] keys", () => {
  throws(() => normalizePermissions({ net: ["http://x.org"] }), /not a host or host:port/);
  throws(() => normalizePermissions({ read: ["rel/path"] }), /not an absolute path/);
  throws(() => normalizePermissions({ read: ["/a/../b"] }), /without '\.\.'/);
  throws(() => normalizePermissions({ env: ["A-B"] }), /not a variable name/);
  throws(() => normalizePermissions({ ffi: ["x"] }), /permissions\.ffi is not a permission/);
  const perms = normalizePermissions({
    net: ["api.example.com:443", "10.0.0.1"],
    read: ["$STOQ_HOME/keys/vt.key"],
    write: ["/var/lib/x/out"],
    env: ["VT_API_KEY"],
  });
  const wants = declared(perms, { yara: "yara" });
  const home = "/h";
  const core = (c: Record<string, unknown>) => CoreConfigSchema.parse(c);
  deepEqual(
    refusals(wants, core({}), home).map((r) => r.split(",")[0]),
    [
      "it connects to api.example.com:443",
      "it reads $STOQ_HOME/keys/vt.key",
      "it writes /var/lib/x/out",
      "it runs yara",
      "it reads environment variables VT_API_KEY",
    ],
  );
  deepEqual(
    refusals(
      wants,
      core({
        allow_plugin_net: ["*.example.com", "10.0.0.1"],
        allow_plugin_read: ["/h/keys"],
        allow_plugin_write: ["/var/lib/x"],
        allow_plugin_run: ["yara"],
        allow_plugin_env: ["VT_*"],
      }),
      home,
    ),
    [],
  );
  // A host without port grants every port; a path grants what is under it, not its neighbours.
  const byHost = refusals(wants, core({ allow_plugin_net: ["api.example.com", "10.0.0.1"] }), home);
  ok(!byHost.some((r) => r.startsWith("it connects to")), byHost.join("\n"));
  match(
    refusals(wants, core({ allow_plugin_net: ["api.example.com:80", "10.0.0.1"] }), home)[0],
    /^it connects to api\.example\.com:443, which/,
  );
  match(
    refusals(wants, core({ allow_plugin_write: ["/var/lib/xy"] }), home).join(),
    /it writes \/var\/lib\/x\/out, which \[core\] allow_plugin_write does not grant/,
  );
  deepEqual(workerPermissions(wants, home, "/tmp/t"), {
    net: ["api.example.com:443", "10.0.0.1"],
    read: ["/h/keys/vt.key", "/tmp/t"],
    write: ["/var/lib/x/out", "/tmp/t"],
    run: ["yara"],
    env: ["VT_API_KEY"],
    sys: false,
    ffi: false,
    import: false,
  });
  deepEqual(
    diffPermissions(wants, declared(normalizePermissions({ net: ["api.example.com:443"] }), {})),
    [
      "- net: 10.0.0.1",
      "- read: $STOQ_HOME/keys/vt.key",
      "- write: /var/lib/x/out",
      "- run: yara",
      "- env: VT_API_KEY",
    ],
  );
});
