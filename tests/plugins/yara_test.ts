import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { stoqAPI } from "../../core/engine/api.ts";
import type { DispatcherResponse, Payload, WorkerResponse } from "../../core/engine/plugin.ts";
import hash from "../../plugins/hash.ts";
import xordecode from "../../plugins/xordecode.ts";
import yara, { periodicKey } from "../../plugins/yara.ts";
import { input, testEngine } from "../engine/harness.ts";
import { realFiles } from "../realfiles.ts";
import {
  instantiate,
  makeCall,
  makePayload,
  makeRequest,
  sh,
  sha256,
  tempDir,
  writeTree,
} from "../helpers.ts";
import { SLOW_LOOP_RULES } from "../fixtures/yara_rules.ts";

const WORKER_RULES = `
rule greeting : tag1 tag2 {
  meta:
    description = "says hello"
    score = 5
    active = true
  strings:
    $hello = "hello"
    $bytes = { 00 FF 00 }
  condition:
    any of them
}
rule mz_at_zero {
  condition:
    uint16(0) == 0x5a4d
}
`;

const DISPATCH_RULES = `
rule xor_dos {
  meta:
    plugin = "XorDecode"
    save = "False"
    xor_plaintext_for_string_dos = "This program cannot be run in DOS mode"
  strings:
    $dos = "This program cannot be run in DOS mode" xor(1-255)
  condition:
    $dos
}
rule two_workers {
  meta:
    plugin = "b64decode, hash ,b64decode"
  strings:
    $m = "ROUTE-ME"
  condition:
    $m
}
`;

interface Logged {
  level: string;
  msg: string;
}

/** Creates a yara instance with a capturing logger. */
async function create(options: Record<string, unknown>) {
  const def = yara(stoqAPI);
  const logged: Logged[] = [];
  const at = (level: string) => (msg: string) => logged.push({ level, msg });
  const log = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  const instance = await def.create(def.optionsSchema.parse(options), {
    name: "yara",
    log,
    home: await tempDir(),
  });
  return { instance, logged };
}

async function scan(options: Record<string, unknown>, payload: Payload) {
  const { instance } = await create(options);
  return await instance.scan!(payload, makeRequest(payload), makeCall()) as WorkerResponse;
}

const enc = (s: string) => new TextEncoder().encode(s);

/** Writes `content` to a temporary file, for the yara CLI; returns its path. */
async function writeTemp(content: string | Uint8Array, name = "sample.bin"): Promise<string> {
  const path = `${await tempDir("yara-sample-")}/${name}`;
  await Deno.writeFile(path, typeof content === "string" ? enc(content) : content);
  return path;
}

Deno.test("yara worker: reports rule, namespace, tags, meta and strings as stoQ does", async () => {
  const dir = await writeTree({ "mine.yar": WORKER_RULES });
  const content = new Uint8Array([...enc("MZ..hello.."), 0, 255, 0, ...enc("hello")]);
  const res = await scan({ worker_rules: [dir], dispatch_rules: [] }, makePayload(content));
  deepEqual(res.results, {
    matches: [
      {
        tags: ["tag1", "tag2"],
        namespace: "mine.yar",
        rule: "greeting",
        // Boolean meta stays boolean (YARA-X 0.3.0's binding gave "unknown").
        meta: { description: "says hello", score: 5, active: true },
        strings: [
          [4, "$hello", enc("hello")],
          [14, "$hello", enc("hello")],
          [11, "$bytes", new Uint8Array([0, 255, 0])],
        ],
      },
      { tags: [], namespace: "mine.yar", rule: "mz_at_zero", meta: {}, strings: [] },
    ],
    findings: [],
  });
});

Deno.test("yara worker: a rule's meta.severity makes its match a finding (mitre from meta)", async () => {
  const dir = await writeTree({
    "sev.yar": `
rule Dropper_Strings { meta: severity = "HIGH" description = "drops a payload" mitre = "T1105, T1204.002, bogus" strings: $a = "drop" $b = "payload" condition: all of them }
rule quiet { meta: severity = "info" condition: true }
rule no_severity { meta: description = "only a match" condition: true }
rule typo { meta: severity = "severe" condition: true }
rule many { meta: severity = "low" strings: $x = "x" condition: $x }`,
  });
  const { instance, call, logged } = await instantiate(yara, {
    worker_rules: [dir],
    dispatch_rules: [],
  });
  const p = makePayload("drop the payload xxxxx");
  const res = await instance.scan!(p, makeRequest(p), call) as {
    results: { matches: { rule: string }[]; findings: unknown[] };
  };
  deepEqual(res.results.matches.map((m) => m.rule).sort(), [
    "Dropper_Strings",
    "many",
    "no_severity",
    "quiet",
    "typo",
  ]);
  const byId = Object.fromEntries(
    (res.results.findings as { id: string }[]).map((f) => [f.id, f]),
  );
  deepEqual(Object.keys(byId).sort(), ["dropper_strings", "many", "quiet"]);
  deepEqual(byId.dropper_strings, {
    id: "dropper_strings",
    severity: "high",
    title: "drops a payload",
    detail: "Dropper_Strings (sev.yar) matched: $a at 0x0, $b at 0x9",
    mitre: ["T1105", "T1204.002"],
  });
  deepEqual(byId.quiet, {
    id: "quiet",
    severity: "info",
    title: "YARA rule quiet matched",
    detail: "quiet (sev.yar) matched",
  });
  deepEqual(byId.many, {
    id: "many",
    severity: "low",
    title: "YARA rule many matched",
    detail: "many (sev.yar) matched: $x at 0x11, $x at 0x12, $x at 0x13, 2 more",
  });
  // A severity that is no severity is said once, not turned into a finding.
  // (Debug lines name the rule too: YARA-X warns that `condition: true` is invariant.)
  const warned = logged.filter((l) => l.startsWith("warn: rule typo"));
  equal(warned.length, 1);
  match(warned[0], /^warn: rule typo: meta.severity "severe" is none of info, low, medium/);
  await instance.scan!(p, makeRequest(p), call);
  equal(logged.filter((l) => l.startsWith("warn: rule typo")).length, 1);
});

Deno.test("yara worker: strings_limit and string_bytes cap what is reported", async () => {
  const dir = await writeTree({ "r.yar": `rule many { strings: $a = "abcdef" condition: $a }` });
  const content = enc("abcdef".repeat(50));
  const res = await scan(
    { worker_rules: [dir], dispatch_rules: [], strings_limit: 3, string_bytes: 2 },
    makePayload(content),
  );
  const [m] = (res.results as { matches: { strings: unknown[] }[] }).matches;
  deepEqual(m.strings, [[0, "$a", enc("ab")], [6, "$a", enc("ab")], [12, "$a", enc("ab")]]);
});

Deno.test("yara worker: a broken rule is reported with file, line and rule; the rest still match", async () => {
  const dir = await writeTree({
    "a_good.yar": `rule good_one { strings: $a = "needle" condition: $a }`,
    "b_bad.yar":
      `rule bad_one {\n  strings:\n    $a = "xyz"\n  condition:\n    $a and nosuchthing\n}\n` +
      `rule fine_too { strings: $b = "haystack" condition: $b }\n`,
    "c_good.yar": `rule good_two { condition: filesize > 0 }`,
    "notes.txt": "not a rule file: ignored",
  });
  const { instance, logged } = await create({ worker_rules: [dir], dispatch_rules: [] });
  const warned = logged.filter((l) => l.level === "warn").map((l) => l.msg);
  equal(warned.length, 2, JSON.stringify(warned));
  match(warned[0], /worker rules: 2 loaded, 1 partly loaded, 0 skipped, 0 warnings; 3 rules/);
  match(
    warned[1],
    /b_bad\.yar partly loaded: .*b_bad\.yar:5:12: unknown identifier `nosuchthing` \(rule bad_one\) \[E009\]/,
  );
  const p = makePayload("a needle in a haystack");
  const res = await instance.scan!(p, makeRequest(p), makeCall()) as WorkerResponse;
  deepEqual(
    (res.results as { matches: { rule: string }[] }).matches.map((m) => m.rule),
    ["good_one", "fine_too", "good_two"],
  );
});

Deno.test("yara worker: each file is its own namespace: the same rule name in two files loads twice", async () => {
  const dir = await writeTree({
    "one.yar": `rule dup { strings: $a = "one" condition: $a }`,
    "two.yar": `rule other { condition: true }\nrule dup { strings: $a = "two" condition: $a }`,
  });
  const { instance } = await create({ worker_rules: [dir], dispatch_rules: [] });
  const p = makePayload("one two");
  const res = await instance.scan!(p, makeRequest(p), makeCall()) as WorkerResponse;
  const found = (res.results as { matches: { rule: string; namespace: string }[] }).matches
    .map((m) => `${m.namespace}:${m.rule}`);
  deepEqual(found, ["one.yar:dup", "two.yar:other", "two.yar:dup"]);
  // The yara CLI agrees when each file gets a namespace of its own.
  const cli = (await sh("yara", [
    "-e",
    `one:${dir}/one.yar`,
    `two:${dir}/two.yar`,
    await writeTemp("one two"),
  ]))
    .trim().split("\n").map((l) => l.split(" ")[0]).sort();
  deepEqual(cli, ["one:dup", "two:dup", "two:other"]);
});

Deno.test("yara: a rule path that does not exist fails the start, unless marked optional:", async () => {
  const dir = await writeTree({ "r.yar": `rule r { condition: true }` });
  await rejects(
    create({ worker_rules: [dir, `${dir}/missing.yar`], dispatch_rules: [] }),
    /worker_rules: .*missing\.yar does not exist; fix the path, or write "optional:.*missing\.yar" where it may be missing/,
  );
  await rejects(
    create({ worker_rules: [dir], dispatch_rules: ["/no/such/dispatch/folder"] }),
    /dispatch_rules: \/no\/such\/dispatch\/folder does not exist/,
  );
  const { instance, logged } = await create({
    worker_rules: [dir, `optional:${dir}/missing.yar`],
    dispatch_rules: [],
  });
  ok(
    logged.some((l) => /optional rule path does not exist: left out/.test(l.msg)),
    JSON.stringify(logged),
  );
  const p = makePayload("x");
  const res = await instance.scan!(p, makeRequest(p), makeCall()) as WorkerResponse;
  deepEqual((res.results as { matches: { rule: string }[] }).matches.map((m) => m.rule), ["r"]);
});

Deno.test("yara: when no rule file loads at all, the plugin fails to load and says why", async () => {
  const dir = await writeTree({ "bad.yar": `rule x {\n condition:\n   foo\n}` });
  await rejects(
    create({ worker_rules: [dir], dispatch_rules: [] }),
    /none of the worker rules loaded \(.*bad\.yar:3:4: unknown identifier `foo` \(rule x\)/,
  );
  await rejects(
    create({ worker_rules: ["builtin:nope.yar"], dispatch_rules: [] }),
    /builtin:nope\.yar: no such built-in rule file; built-in: builtin:dispatch\.yar/,
  );
});

Deno.test("yara dispatcher: meta.plugin routes (lower-cased, de-duplicated), save=false stops archiving", async () => {
  const dir = await writeTree({ "d.yar": DISPATCH_RULES });
  const { instance } = await create({ dispatch_rules: [dir] });
  deepEqual(instance.dispatch_targets, ["xordecode", "b64decode", "hash"]);
  const p = makePayload("please ROUTE-ME now");
  const res = await instance.get_dispatches!(p, makeRequest(p), makeCall()) as DispatcherResponse;
  deepEqual(res.plugin_names, ["b64decode", "hash"]);
  equal(p.results.payload_meta.should_archive, true);
  equal((res.meta!.hash as { rule: string }).rule, "two_workers");
});

Deno.test("yara dispatcher: derives a single-byte XOR key that xordecode uses to recover the PE", async () => {
  const dir = await writeTree({ "d.yar": DISPATCH_RULES });
  const original = new Uint8Array(4096);
  original.set(enc("MZ"), 0);
  original.set(enc("This program cannot be run in DOS mode"), 78);
  const xored = original.map((b) => b ^ 0x41);
  const { instance } = await create({ dispatch_rules: [dir] });
  const plain = makePayload(original);
  const none = await instance.get_dispatches!(plain, makeRequest(plain), makeCall());
  deepEqual((none as DispatcherResponse).plugin_names, [], "key 0 is outside xor(1-255)");
  const p = makePayload(xored);
  const res = await instance.get_dispatches!(p, makeRequest(p), makeCall()) as DispatcherResponse;
  deepEqual(res.plugin_names, ["xordecode"]);
  equal(p.results.payload_meta.should_archive, false, "save = False");
  const meta = res.meta!.xordecode as { meta: Record<string, unknown>; strings: unknown[][] };
  equal(meta.meta.xorkey, "65");
  equal(meta.strings[0][0], 78);

  // The whole path through the engine: the decoded child is the original.
  const xorOnly = await writeTree({
    "x.yar": DISPATCH_RULES.slice(0, DISPATCH_RULES.indexOf("rule two")),
  });
  const engine = await testEngine({
    plugins: [yara, xordecode, hash],
    pipeline: { dispatchers: ["yara"], always_dispatch: ["hash"] },
    options: { yara: { dispatch_rules: [xorOnly] }, hash: { algorithms: ["sha256"] } },
  });
  await engine.preload();
  const response = await engine.scan([input(xored)]);
  equal(response.errors.length, 0, JSON.stringify(response.errors));
  const digests = response.results.map((r) =>
    (r.workers as Record<string, { sha256: string }>).hash.sha256
  );
  deepEqual(digests, [sha256(xored), sha256(original)]);
  deepEqual(response.results[1].payload_meta.extra_data, { xorkey: [0x41] });
  deepEqual(response.results[1].extracted_by, ["xordecode"]);
});

Deno.test("yara dispatcher: a rolling key is recovered and aligned to offset 0; xor_info lists all keys", async () => {
  const plaintext = "This program cannot be run in DOS mode";
  const rules = `rule rolling {
  meta:
    plugin = "xordecode"
    xor_plaintext_for_string_dos = "${plaintext}"
  strings:
    $dos = { ${
    [...enc(plaintext)].map((b, i) => (b ^ [1, 2, 3][(i + 79) % 3]).toString(16).padStart(2, "0"))
      .join(" ")
  } }
  condition:
    $dos
}`;
  const dir = await writeTree({ "d.yar": rules });
  const original = new Uint8Array(300);
  original.set(enc(plaintext), 79);
  const key = [1, 2, 3];
  const xored = original.map((b, i) => b ^ key[i % 3]);
  for (const first of [true, false]) {
    const { instance } = await create({ dispatch_rules: [dir], xor_first_match: first });
    const p = makePayload(xored);
    const res = await instance.get_dispatches!(p, makeRequest(p), makeCall()) as DispatcherResponse;
    const meta = (res.meta!.xordecode as { meta: Record<string, unknown> }).meta;
    if (first) equal(meta.xorkey, "1,2,3");
    else deepEqual(meta.xor_info, [[79, "$dos", [1, 2, 3]]]);
  }
});

Deno.test("yara: periodicKey finds the shortest period and refuses a key as long as the text", () => {
  deepEqual(periodicKey(new Uint8Array([0x41 ^ 7, 0x42 ^ 7, 0x43 ^ 7]), enc("ABC")), [7]);
  deepEqual(periodicKey(new Uint8Array([1 ^ 65, 2 ^ 66, 1 ^ 67, 2 ^ 68]), enc("ABCD")), [1, 2]);
  equal(periodicKey(new Uint8Array([1 ^ 65, 2 ^ 66, 3 ^ 67]), enc("ABC")), undefined);
});

Deno.test("yara worker: agrees with the yara CLI on which rules match real binaries", async () => {
  const rules = `rule elf { condition: uint32(0) == 0x464c457f }
rule has_libc { strings: $a = "libc.so.6" condition: $a }
rule has_gnu { strings: $a = "GNU" condition: #a > 2 }`;
  const dir = await writeTree({ "r.yar": rules });
  const { instance } = await create({ worker_rules: [dir], dispatch_rules: [] });
  for (const file of ["/bin/true", "/usr/bin/ssdeep", "/etc/passwd"]) {
    const cli = (await sh("yara", [`${dir}/r.yar`, file])).trim().split("\n").filter(Boolean)
      .map((l) => l.split(" ")[0]).sort();
    const p = makePayload(await Deno.readFile(file));
    const res = await instance.scan!(p, makeRequest(p), makeCall()) as WorkerResponse;
    const ours = (res.results as { matches: { rule: string }[] }).matches.map((m) => m.rule).sort();
    deepEqual(ours, cli, file);
  }
});

Deno.test("yara worker: external variables are filled per payload and match as the yara CLI with -d", async () => {
  const rules = `rule fname_exact { condition: filename == "invoice.exe" }
rule fname_contains { condition: filename contains "voice" }
rule fname_matches { condition: filename matches /^inv.*\\.exe$/is }
rule ext_exe { condition: extension == ".exe" }
rule ext_not_msi { strings: $m = "MZ" condition: $m at 0 and extension != ".msi" }
rule path_public { condition: filepath contains "Public" }
rule type_exe { condition: filetype == "EXE" }
rule type_not_exe { strings: $m = "MZ" condition: $m and not filetype == "EXE" }
rule owner_system { condition: owner == "SYSTEM" and filesize > 0 }
rule nameless { condition: filename == "" }
`;
  const dir = await writeTree({ "ext.yar": rules });
  const externals = { filename: "", filepath: "", extension: "", filetype: "", owner: "SYSTEM" };
  const { instance } = await create({ worker_rules: [dir], dispatch_rules: [], externals });
  const pe = await Deno.readFile((await realFiles())["hello.exe"]);
  // What each payload is, and the -d values the yara CLI gets for it (stoq fills the same).
  const cases: {
    extra: Record<string, unknown>;
    content: Uint8Array;
    d: Record<string, string>;
  }[] = [
    {
      extra: { filename: "C:\\Users\\Public\\invoice.exe" },
      content: pe,
      d: {
        filename: "invoice.exe",
        filepath: "C:\\Users\\Public",
        extension: ".exe",
        filetype: "EXE",
      },
    },
    {
      extra: { filename: "notes.txt", source_dir: "/srv/Public/in" },
      content: enc("notes that mention MZ in passing"),
      d: { filename: "notes.txt", filepath: "/srv/Public/in", extension: ".txt", filetype: "TXT" },
    },
    {
      extra: { filename: "setup.MSI" },
      content: pe,
      d: { filename: "setup.MSI", filepath: "", extension: ".msi", filetype: "EXE" },
    },
    { extra: {}, content: pe, d: { filename: "", filepath: "", extension: "", filetype: "EXE" } },
  ];
  const seen: string[][] = [];
  for (const c of cases) {
    const p = makePayload(c.content, { extra_data: c.extra });
    const res = await instance.scan!(p, makeRequest(p), makeCall()) as WorkerResponse;
    const ours = (res.results as { matches: { rule: string }[] }).matches.map((m) => m.rule).sort();
    const defines = Object.entries({ ...c.d, owner: "SYSTEM" }).flatMap((
      [k, v],
    ) => ["-d", `${k}=${v}`]);
    const cli = (await sh("yara", [...defines, `${dir}/ext.yar`, await writeTemp(c.content)]))
      .trim().split("\n").filter(Boolean).map((l) => l.split(" ")[0]).sort();
    deepEqual(ours, cli, JSON.stringify(c.d));
    seen.push(ours);
  }
  deepEqual(seen[0], [
    "ext_exe",
    "ext_not_msi",
    "fname_contains",
    "fname_exact",
    "fname_matches",
    "owner_system",
    "path_public",
    "type_exe",
  ]);
  deepEqual(seen[2], ["owner_system", "type_exe"]);
});

Deno.test("yara worker: a payload that runs out of scan_timeout gets a timed-out error; the rules go on", async () => {
  const dir = await writeTree({
    "slow.yar": SLOW_LOOP_RULES,
  });
  const { instance } = await create({ worker_rules: [dir], dispatch_rules: [], scan_timeout: 1 });
  const slow = makePayload(new Uint8Array(400_000).fill(0x61));
  const res = await instance.scan!(slow, makeRequest(slow), makeCall()) as WorkerResponse;
  deepEqual(res.results, { matches: [], timed_out: true });
  match(
    String(res.errors?.[0]),
    /yara: the worker rules timed out after 1 s \(scan_timeout\) on this 400000-byte payload/,
  );
  const fine = makePayload("a needle");
  const ok2 = await instance.scan!(fine, makeRequest(fine), makeCall()) as WorkerResponse;
  deepEqual((ok2.results as { matches: { rule: string }[] }).matches.map((m) => m.rule), [
    "needle",
  ]);
});

Deno.test("yara worker: a synthetic signature-base-like set matches as the yara CLI on real binaries", async () => {
  const dir = await tempDir("yara-gen-");
  await sh(Deno.execPath(), [
    "run",
    "--allow-write",
    new URL("../../scripts/gen-rules.ts", import.meta.url).pathname,
    dir,
    "60",
    "7",
  ]);
  const externals = { filename: "", filepath: "", extension: "", filetype: "", owner: "" };
  const { instance, logged } = await create({ worker_rules: [dir], dispatch_rules: [], externals });
  match(logged.map((l) => l.msg).join("\n"), /worker rules: 58 loaded, 2 skipped, \d+ warnings/);
  // The yara CLI gets the same entry files (each its own namespace), without the broken two.
  const entries = [...Deno.readDirSync(dir)].filter((e) => e.isFile && !e.name.startsWith("broken"))
    .map((e, i) => `n${i}:${dir}/${e.name}`);
  const real = await realFiles();
  const samples: Record<string, Uint8Array> = {
    "true.bin": await Deno.readFile("/bin/true"),
    "yara": await Deno.readFile("/usr/bin/yara"),
    "hello.exe": await Deno.readFile(real["hello.exe"]),
    "hello.elf": await Deno.readFile(real["hello.elf"]),
    "hits.txt": enc(
      "quarterly invoice\npowershell -EnC ...\nhttps://downloads.example.org/a/b/c.bin\n" +
        "malware analysis http://example.com/index.html",
    ),
    "marker.bin": new Uint8Array([0, 1, 0xde, 0xad, 0xbe, 0xef, 0x13, 0x37, 0xc0, 0xde, 9]),
  };
  let matched = 0;
  for (const [name, data] of Object.entries(samples)) {
    const p = makePayload(data, { extra_data: { filename: name } });
    const res = await instance.scan!(p, makeRequest(p), makeCall()) as WorkerResponse;
    const ours = (res.results as { matches: { rule: string }[] }).matches.map((m) => m.rule).sort();
    const dot = name.lastIndexOf(".");
    const type = name.endsWith(".exe")
      ? "EXE"
      : name.endsWith(".txt")
      ? "TXT"
      : name === "marker.bin"
      ? ""
      : "ELF";
    const d = {
      filename: name,
      filepath: "",
      extension: dot > 0 ? name.slice(dot).toLowerCase() : "",
      filetype: type,
      owner: "",
    };
    const defines = Object.entries(d).flatMap(([k, v]) => ["-d", `${k}=${v}`]);
    const cli = (await sh("yara", ["-w", ...defines, ...entries, await writeTemp(data, name)]))
      .trim().split("\n").filter(Boolean).map((l) => l.split(" ")[0]).sort();
    deepEqual(ours, cli, name);
    matched += ours.length;
  }
  ok(matched >= 4, `the samples should match some rules (got ${matched})`);
});
