import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import route from "../../plugins/route.ts";
import type { Payload } from "../../core/engine/plugin.ts";
import { instantiate, makePayload, makeRequest, sh, tempDir } from "../helpers.ts";

/** A route instance with `rules`, and a function giving its dispatch for a payload. */
async function router(rules: Record<string, unknown>[]) {
  const { instance, call } = await instantiate(route, { rules });
  const dispatch = async (p: Payload) => await instance.get_dispatches!(p, makeRequest(p), call);
  return { instance, dispatch };
}

/** Real zip, gzip and 7z files of one small text, made by the tools. */
async function archives(): Promise<{ zip: Uint8Array; gz: Uint8Array; sz: Uint8Array }> {
  const dir = await tempDir();
  await Deno.writeTextFile(join(dir, "a.txt"), "route me\n".repeat(100));
  await sh("zip", ["-q", "a.zip", "a.txt"], dir);
  await sh("gzip", ["-k", "a.txt"], dir);
  await sh("7z", ["a", "-bd", "-bso0", "a.7z", "a.txt"], dir);
  return {
    zip: await Deno.readFile(join(dir, "a.zip")),
    gz: await Deno.readFile(join(dir, "a.txt.gz")),
    sz: await Deno.readFile(join(dir, "a.7z")),
  };
}

type Issue = { path: PropertyKey[]; message: string };

const named = (filename: string) => ({ extra_data: { filename } });

Deno.test("route: mime globs and not_mime on real detection", async () => {
  const { zip, gz, sz } = await archives();
  const { dispatch } = await router([
    {
      name: "compressed",
      workers: ["decompress"],
      mime: ["application/zip", "application/x-*-compressed", "*/GZIP"],
    },
    { name: "not_text", workers: ["strings"], not_mime: ["text/*"] },
  ]);
  deepEqual(await dispatch(makePayload(zip)), {
    plugin_names: ["decompress", "strings"],
    meta: { mimetype: "application/zip", rules: ["compressed", "not_text"] },
  });
  deepEqual(await dispatch(makePayload(gz)), {
    plugin_names: ["decompress", "strings"],
    meta: { mimetype: "application/gzip", rules: ["compressed", "not_text"] },
  });
  deepEqual(await dispatch(makePayload(sz)), {
    plugin_names: ["decompress", "strings"],
    meta: { mimetype: "application/x-7z-compressed", rules: ["compressed", "not_text"] },
  });
  deepEqual(await dispatch(makePayload("just words\n")), {
    plugin_names: [],
    meta: { mimetype: "text/plain", rules: [] },
  });
  const elf = await dispatch(makePayload(await Deno.readFile("/bin/ls")));
  deepEqual(elf, {
    plugin_names: ["strings"],
    meta: { mimetype: "application/x-elf", rules: ["not_text"] },
  });
});

Deno.test("route: filename globs match the base name, ignoring case", async () => {
  const { dispatch } = await router([
    { name: "zips", workers: ["decompress"], filename: ["*.zip", "*.7z"] },
    { name: "not_docs", workers: ["yara"], not_filename: ["*.txt", "readme*"] },
  ]);
  const names = async (meta: Parameters<typeof makePayload>[1]) =>
    ((await dispatch(makePayload("x", meta)))?.meta as { rules: string[] }).rules;
  deepEqual(await names(named("Sample.ZIP")), ["zips", "not_docs"]);
  deepEqual(await names(named("mail/attachments/b.7Z")), ["zips", "not_docs"]);
  deepEqual(await names(named("C:\\Users\\x\\c.zip")), ["zips", "not_docs"]);
  deepEqual(await names(named("dir.zip/notes.TXT")), []);
  deepEqual(await names(named("README.md")), []);
  // No filename: filename conditions fail, not_filename conditions pass.
  deepEqual(await names({}), ["not_docs"]);
  deepEqual(await names({ extra_data: { filename: 42 } }), ["not_docs"]);
});

Deno.test("route: size bounds are inclusive; a rule with no conditions matches all", async () => {
  const { dispatch } = await router([
    { name: "small", workers: ["entropy"], max_size: 10 },
    { name: "mid", workers: ["hash"], min_size: 5, max_size: 20 },
    { name: "big", workers: ["yara"], min_size: 21 },
    { name: "always", workers: ["mimetype"] },
  ]);
  const rules = async (size: number) =>
    ((await dispatch(makePayload("a".repeat(size))))?.meta as { rules: string[] }).rules;
  deepEqual(await rules(0), ["small", "always"]);
  deepEqual(await rules(4), ["small", "always"]);
  deepEqual(await rules(5), ["small", "mid", "always"]);
  deepEqual(await rules(10), ["small", "mid", "always"]);
  deepEqual(await rules(11), ["mid", "always"]);
  deepEqual(await rules(20), ["mid", "always"]);
  deepEqual(await rules(21), ["big", "always"]);
});

Deno.test("route: kinds are ANDed, a negative vetoes, workers unite in rule order", async () => {
  const { zip } = await archives();
  const { instance, dispatch } = await router([
    { workers: ["yara", "hash"] },
    { name: "zip_by_name", workers: ["decompress", "hash"], mime: ["*/zip"], filename: ["*.zip"] },
    { workers: ["exif"], mime: ["application/*"], not_filename: ["*.zip"] },
    { workers: ["entropy", "yara"], min_size: 1 },
  ]);
  deepEqual(instance.dispatch_targets, [
    "yara",
    "hash",
    "decompress",
    "exif",
    "entropy",
  ]);
  deepEqual(await dispatch(makePayload(zip, named("x.zip"))), {
    plugin_names: ["yara", "hash", "decompress", "entropy"],
    meta: { mimetype: "application/zip", rules: ["rule1", "zip_by_name", "rule4"] },
  });
  // A zip under another name: the mime condition alone is not enough for rule 2.
  deepEqual(await dispatch(makePayload(zip, named("x.bin"))), {
    plugin_names: ["yara", "hash", "exif", "entropy"],
    meta: { mimetype: "application/zip", rules: ["rule1", "rule3", "rule4"] },
  });
  // An empty payload called x.zip: the filename condition alone is not enough either.
  deepEqual(await dispatch(makePayload("", named("x.zip"))), {
    plugin_names: ["yara", "hash"],
    meta: { mimetype: "application/x-empty", rules: ["rule1"] },
  });
});

Deno.test("route: the schema rejects bad rules and names the option", async () => {
  // Each issue names the option by its path; the engine prints it before the message.
  const bad = async (options: Record<string, unknown>, path: string, message: RegExp) => {
    await rejects(instantiate(route, options), (e: Error & { issues?: Issue[] }) => {
      const found = (e.issues ?? []).map((i) => `${i.path.join(".")}: ${i.message}`);
      ok(found.some((f) => f.startsWith(`${path}: `) && message.test(f)), found.join("\n"));
      return true;
    });
  };
  const rule = (extra: Record<string, unknown>) => ({ rules: [{ workers: ["hash"], ...extra }] });
  await bad({ rules: [{ mime: ["text/*"] }] }, "rules.0.workers", /required/);
  await bad({ rules: [{ workers: [] }] }, "rules.0.workers", /at least one worker/);
  await bad(rule({ mimes: ["text/*"] }), "rules.0", /Unrecognized key: "mimes"/);
  await bad(rule({ min_size: -1 }), "rules.0.min_size", /must be 0 or more bytes/);
  await bad(rule({ max_size: 1.5 }), "rules.0.max_size", /whole number of bytes/);
  await bad(rule({ min_size: 10, max_size: 9 }), "rules.0.max_size", /smaller than min_size/);
  await bad(rule({ filename: ["dir/*.zip"] }), "rules.0.filename", /base name/);
  await bad(rule({ not_mime: [""] }), "rules.0.not_mime.0", /must not be empty/);
  await bad(
    { rules: [{ workers: ["a"] }, { name: "rule1", workers: ["b"] }] },
    "rules.1.name",
    /"rule1" is already the name of an earlier rule/,
  );
  await bad({ rules: [] }, "rules", /at least one \[\[route.rules\]\]/);
  await bad({}, "rules", /required/);
  await bad({ ...rule({}), extra: 1 }, "", /Unrecognized key: "extra"/);
  await bad(
    { rules: [{ workers: ["a"] }, { workers: ["b"], min_size: -5 }] },
    "rules.1.min_size",
    /0 or more/,
  );
});

/** A folder of typing rule files. */
async function typingDir(files: Record<string, string>): Promise<string> {
  const dir = await tempDir("typing-");
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, name), text);
  return dir;
}

const TYPING = {
  "zip.yar": `rule zip_magic { condition: uint32(0) == 0x04034b50 }`,
  "gz.yar": `rule gzip_magic { condition: uint16(0) == 0x8b1f }
rule has_route_word { strings: $a = "route me" condition: $a }`,
};

Deno.test("route: flavors are the MIME type plus matching typing rules; not_flavor vetoes", async () => {
  const { zip, gz } = await archives();
  const dir = await typingDir(TYPING);
  const { instance, call } = await instantiate(route, {
    typing_rules: [dir],
    typing_head_rules: [],
    rules: [
      { name: "zips", workers: ["decompress"], flavor: ["zip_magic"] },
      { name: "by_mime", workers: ["hash"], flavor: ["application/gzip"] },
      { name: "wordy", workers: ["strings"], flavor: ["has_*"], not_flavor: ["zip_magic"] },
    ],
  });
  const dispatch = async (p: Payload) => await instance.get_dispatches!(p, makeRequest(p), call);
  deepEqual(await dispatch(makePayload(zip)), {
    plugin_names: ["decompress"],
    meta: {
      mimetype: "application/zip",
      flavors: ["application/zip", "zip_magic"],
      rules: ["zips"],
    },
  });
  deepEqual(await dispatch(makePayload(gz)), {
    plugin_names: ["hash"],
    meta: {
      mimetype: "application/gzip",
      flavors: ["application/gzip", "gzip_magic"],
      rules: ["by_mime"],
    },
  });
  deepEqual(await dispatch(makePayload("please route me\n")), {
    plugin_names: ["strings"],
    meta: { mimetype: "text/plain", flavors: ["text/plain", "has_route_word"], rules: ["wordy"] },
  });
});

Deno.test("route: explain gives each rule's verdict and the reason for it", async () => {
  const { zip } = await archives();
  const dir = await typingDir(TYPING);
  const { instance, call } = await instantiate(route, {
    typing_rules: [dir],
    typing_head_rules: [],
    rules: [
      { name: "zips", workers: ["decompress"], flavor: ["zip_magic"], max_size: 10_000_000 },
      { name: "texts", workers: ["iocextract"], mime: ["text/*"], not_filename: ["*.zip"] },
    ],
  });
  const p = makePayload(zip, named("a.zip"));
  deepEqual(await instance.explain!(p, makeRequest(p), call), {
    facts: { flavors: ["application/zip", "zip_magic"], filename: "a.zip", size: zip.length },
    rules: [
      {
        name: "zips",
        workers: ["decompress"],
        matched: true,
        why: ["flavor zip_magic matches zip_magic", `size ${zip.length} is within 0..10000000`],
      },
      {
        name: "texts",
        workers: ["iocextract"],
        matched: false,
        why: [
          "mime application/zip matches none of text/*",
          "filename a.zip matches not_filename *.zip",
        ],
      },
    ],
  });
});

Deno.test("route: typing_head_rules see only the first typing_head_bytes; typing_rules the whole payload", async () => {
  const marker = `rule marker_anywhere { strings: $m = "FLAVOR-MARK" condition: $m }`;
  const head = await typingDir({ "head.yar": marker.replace("marker_anywhere", "marker_head") });
  const whole = await typingDir({ "whole.yar": marker });
  const { instance, call } = await instantiate(route, {
    typing_head_rules: [head],
    typing_rules: [whole],
    typing_head_bytes: 8192,
    rules: [{ name: "marked", workers: ["strings"], flavor: ["marker_*"] }],
  });
  const flavors = async (text: string) => {
    const p = makePayload(text);
    return (await instance.get_dispatches!(p, makeRequest(p), call))?.meta?.flavors;
  };
  // Near the start both sets see the marker; past 8 KiB only the whole-payload set does.
  deepEqual(await flavors(`FLAVOR-MARK ${"x".repeat(20000)}\n`), [
    "text/plain",
    "marker_head",
    "marker_anywhere",
  ]);
  deepEqual(await flavors(`${"x".repeat(20000)} FLAVOR-MARK\n`), ["text/plain", "marker_anywhere"]);
});

Deno.test("route: a broken typing rule file is logged; the other typing files still type", async () => {
  const { zip } = await archives();
  const dir = await typingDir({
    ...TYPING,
    "broken.yar": "rule broken {\n  condition:\n    nope\n}\n",
  });
  const { instance, call, logged } = await instantiate(route, {
    typing_rules: [dir],
    typing_head_rules: [],
    rules: [{ name: "zips", workers: ["decompress"], flavor: ["zip_magic"] }],
  });
  deepEqual(logged.filter((l) => !l.startsWith("debug:")), [
    `warn: typing rules: ${
      Object.keys(TYPING).length
    } loaded, 1 skipped, 0 warnings; 3 rules; \`stoq rules check ${dir}\` shows every message`,
    `warn: typing rules: ${dir}/broken.yar skipped: ${dir}/broken.yar:3:5: unknown identifier \`nope\` (rule broken) [E009]`,
  ]);
  const p = makePayload(zip);
  deepEqual((await instance.get_dispatches!(p, makeRequest(p), call))?.plugin_names, [
    "decompress",
  ]);
});

Deno.test("route: explain words every kind of condition, with and without a filename", async () => {
  const { instance, call } = await instantiate(route, {
    rules: [{
      name: "all_kinds",
      workers: ["x"],
      flavor: ["text/*"],
      not_flavor: ["zzz"],
      mime: ["text/*"],
      not_mime: ["image/*"],
      filename: ["*.zip"],
      not_filename: ["*.txt"],
    }],
  });
  const why = async (meta: Parameters<typeof makePayload>[1]) => {
    const p = makePayload("hello\n", meta);
    return (await instance.explain!(p, makeRequest(p), call)).rules[0].why;
  };
  deepEqual(await why({}), [
    "flavor text/plain matches text/*",
    "mime text/plain matches text/*",
    "no filename to match *.zip",
    "no flavor matches not_flavor zzz",
    "mime text/plain matches none of not_mime image/*",
    "no filename, so not_filename *.txt cannot match",
  ]);
  deepEqual(await why(named("a.txt")), [
    "flavor text/plain matches text/*",
    "mime text/plain matches text/*",
    "filename a.txt matches none of *.zip",
    "no flavor matches not_flavor zzz",
    "mime text/plain matches none of not_mime image/*",
    "filename a.txt matches not_filename *.txt",
  ]);
});

Deno.test("route: flavors use the type the result shows, libmagic's when mimetype's engine is libmagic", async () => {
  const { realFiles } = await import("../realfiles.ts");
  const { DEFAULT_CONFIG_TEXT } = await import("../../core/config.ts");
  const { runStoq, show } = await import("../cli_helpers.ts");
  const exe = (await realFiles())["hello.exe"];
  const libmagic = (await sh("file", ["--brief", "--mime-type", exe])).trim();
  for (const engine of ["file-type", "libmagic"]) {
    const home = await tempDir();
    await Deno.writeTextFile(
      `${home}/stoq.toml`,
      `${DEFAULT_CONFIG_TEXT}\n[mimetype]\nengine = "${engine}"\n`,
    );
    const explain = await runStoq(["route", "explain", "--json", exe], { home });
    equal(explain.code, 0, show(explain));
    const facts = JSON.parse(explain.stdout).dispatchers
      .find((d: { dispatcher: string }) => d.dispatcher === "route").explanation.facts;
    const scan = await runStoq(["scan", "-a", "mimetype", "-R", "route", exe], { home });
    equal(scan.code, 0, show(scan));
    const shown = JSON.parse(scan.stdout).results[0].workers.mimetype.mimetype;
    equal(facts.flavors[0], shown, engine);
    equal(shown, engine === "libmagic" ? libmagic : "application/x-msdownload", engine);
  }
});
