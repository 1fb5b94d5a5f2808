/**
 * The pe plugin's .NET part against Mono's own readers, value by value, on assemblies Mono's C#
 * compiler builds: pedump (the CLR header: runtime version, flags, metadata, entry point token,
 * resources, strong name; the metadata version string) and monodis (--assembly, --assemblyref,
 * --module, --moduleref, --implmap, --manifest, and --mresources for the embedded resources'
 * bytes). Plus findings, truncated and corrupted copies, and `./stoq scan` with no flags.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { parsePe } from "../../plugins/lib/pe/index.ts";
import { peFindings } from "../../plugins/lib/pe/findings.ts";
import { parseDoc, runStoq, show } from "../cli_helpers.ts";
import { sh, sha256, tempDir } from "../helpers.ts";
import { corruptedCopies } from "../fixtures/cache.ts";
import { type DotnetFileName, dotnetFiles } from "../fixtures/pe_files.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const OPTS = { extract_overlay: true, extract_resources: true, max_children: 64 };
const NAMES: DotnetFileName[] = ["hello_net.exe", "stoqlib_net.dll", "hello_net_mixed.exe"];

async function parse(name: DotnetFileName) {
  const p = parsePe(await Deno.readFile((await dotnetFiles())[name]), OPTS);
  return { ...p, net: p.result.dotnet as Json };
}

/** pedump's CLI header and metadata header fields. */
async function pedump(path: string) {
  const text = await sh("pedump", [path]);
  const field = (label: string) => new RegExp(`${label}:\\s*(.*)`).exec(text)?.[1].trim() ?? "";
  const range = (label: string) => {
    const m = /0x([0-9a-f]+) \[0x([0-9a-f]+)\]/.exec(field(label))!;
    return { rva: parseInt(m[1], 16), size: parseInt(m[2], 16) };
  };
  const flags = text.split("CLI header size")[1];
  return {
    runtime: field("Runtime required"),
    flags: /Flags:\s*(.*)/.exec(flags)![1].split(", "),
    metadata: range("Metadata"),
    entry: field("Entry Point Token"),
    resources: range("Resources at"),
    strong_name: range("Strong Name at"),
    version: field("Version string"),
  };
}

/** monodis's Assembly and AssemblyRef tables. */
async function monodisAssemblies(path: string) {
  const asm = await sh("monodis", ["--assembly", path]);
  const f = (l: string) => new RegExp(`^${l}:[ \\t]*(.*)$`, "m").exec(asm)?.[1].trim() ?? "";
  const dump = [...asm.matchAll(/^0x[0-9a-f]+: ((?:[0-9A-F]{2} ?)+)$/gm)]
    .map((m) => m[1].trim()).join(" ");
  const key = dump ? Uint8Array.from(dump.split(" "), (b) => parseInt(b, 16)) : undefined;
  const refs = (await sh("monodis", ["--assemblyref", path])).split(/^\d+: /m).slice(1).map(
    (block) => ({
      version: /Version=(\S+)/.exec(block)![1],
      name: /Name=(\S+)/.exec(block)![1],
      flags: parseInt(/Flags=(0x[0-9a-f]+)/.exec(block)![1], 16),
      token: (/Public Key:\n0x0+: ((?:[0-9A-F]{2} ?)+)/.exec(block)?.[1] ?? "").replace(/ /g, "")
        .toLowerCase(),
    }),
  );
  return {
    name: f("Name"),
    version: f("Version"),
    flags: parseInt(f("Flags"), 16),
    hash: parseInt(f("Hash Algoritm"), 16),
    culture: f("Culture"),
    key,
    refs,
  };
}

Deno.test("pe .NET: the CLR header equals pedump's, field by field, on an EXE, a signed x86 DLL and a mixed-mode copy", async () => {
  const files = await dotnetFiles();
  const flagWords: Record<string, [string, boolean]> = {
    ilonly: ["ILONLY", true],
    "contains native": ["ILONLY", false],
    "32bits": ["32BITREQUIRED", true],
    "32/64": ["32BITREQUIRED", false],
    trackdebug: ["TRACKDEBUGDATA", true],
    "no-trackdebug": ["TRACKDEBUGDATA", false],
    strongnamesigned: ["STRONGNAMESIGNED", true],
    notsigned: ["STRONGNAMESIGNED", false],
  };
  for (const name of NAMES) {
    const { net, errors } = await parse(name);
    const ref = await pedump(files[name]);
    deepEqual(errors, [], name);
    equal(net.runtime_version, ref.runtime, name);
    for (const word of ref.flags) {
      const [flag, set] = flagWords[word];
      equal(net.flags.names.includes(flag), set, `${name}: ${word}`);
    }
    deepEqual({ rva: net.metadata.rva, size: net.metadata.size }, ref.metadata, name);
    equal(net.metadata.version, ref.version, name);
    equal(net.entry_point_token, ref.entry, name);
    deepEqual(net.resources ?? { rva: 0, size: 0 }, ref.resources, name);
    deepEqual(net.strong_name_signature ?? { rva: 0, size: 0 }, ref.strong_name, name);
  }
  const dll = (await parse("stoqlib_net.dll")).net;
  deepEqual(dll.flags, {
    value: "0x0000000b",
    names: ["ILONLY", "32BITREQUIRED", "STRONGNAMESIGNED"],
  });
  equal(dll.entry_point_token, "0x00000000");
  equal((await parse("hello_net.exe")).net.entry_point_token.slice(0, 4), "0x06"); // a MethodDef
});

Deno.test("pe .NET: assembly, references, module, P/Invoke imports and manifest resources equal monodis's tables", async () => {
  const files = await dotnetFiles();
  for (const name of ["hello_net.exe", "stoqlib_net.dll"] as DotnetFileName[]) {
    const { net } = await parse(name);
    const ref = await monodisAssemblies(files[name]);
    equal(net.assembly.name, ref.name, name);
    equal(net.assembly.version, ref.version, name);
    equal(net.assembly.flags, ref.flags, name);
    equal(net.assembly.hash_algorithm, ref.hash === 0x8004 ? "sha1" : String(ref.hash));
    equal(net.assembly.culture, ref.culture);
    equal(net.assembly.public_key, ref.key !== undefined, name);
    if (ref.key) {
      // The token is the reversed last 8 bytes of the key's SHA-1 (ECMA-335 II.6.3).
      const h = createHash("sha1").update(ref.key).digest();
      equal(net.assembly.public_key_token, Buffer.from(h.subarray(12).reverse()).toString("hex"));
    }
    deepEqual(
      net.assembly_refs.map((r: Json) => [r.name, r.version, r.flags, r.public_key_token]).sort(),
      ref.refs.map((r) => [r.name, r.version, r.flags, r.token]).sort(),
      name,
    );
    const mod = /^1: (\S+) \d+ \{([0-9A-F-]+)\}$/m.exec(
      await sh("monodis", ["--module", files[name]]),
    )!;
    deepEqual(net.module, { name: mod[1], mvid: mod[2] }, name);
  }
  const { net } = await parse("hello_net.exe");
  equal(net.assembly.version, "1.2.3.4");
  deepEqual(net.assembly_refs.map((r: Json) => r.name).sort(), ["System.Xml", "mscorlib"]);
  const implmap = await sh("monodis", ["--implmap", files["hello_net.exe"]]);
  deepEqual(
    net.pinvoke.map((p: Json) => `${p.function} ${p.dll}`),
    [...implmap.matchAll(/\((\S+ \S+)\)$/gm)].map((m) => m[1]),
  );
  deepEqual(net.pinvoke.map((p: Json) => p.function), [
    "VirtualAllocEx",
    "WriteProcessMemory",
    "CreateRemoteThread",
    "MessageBoxW", // the EntryPoint, not the C# name Box
  ]);
  const modref = await sh("monodis", ["--moduleref", files["hello_net.exe"]]);
  deepEqual(net.module_refs, [...modref.matchAll(/^\d+: (\S+)$/gm)].map((m) => m[1]));
  const manifest = await sh("monodis", ["--manifest", files["hello_net.exe"]]);
  deepEqual(
    net.manifest_resources.map((m: Json) =>
      `${m.public ? "public" : "private"} '${m.name}' at offset ${m.offset}`
    ),
    [...manifest.matchAll(/^\d+: (.*) in current module$/gm)].map((m) => m[1]),
  );
});

Deno.test("pe .NET: embedded resources are children with the bytes monodis --mresources writes", async () => {
  const files = await dotnetFiles();
  const p = await parse("hello_net.exe");
  const dir = await tempDir("mresources-");
  await sh("monodis", ["--mresources", files["hello_net.exe"]], dir);
  const kids = p.children.filter((c) => c.extra_data.source === "dotnet_resource");
  deepEqual(kids.map((c) => c.extra_data.filename), ["notes.txt", "stage2.bin"]);
  for (const c of kids) {
    const ref = await Deno.readFile(`${dir}/${c.extra_data.filename}`);
    equal(sha256(c.content), sha256(ref));
    const row = p.net.manifest_resources.find((m: Json) => m.name === c.extra_data.filename);
    equal(row.size, ref.length);
  }
  equal(kids[1].extra_data.embedded, "pe");
  equal(sha256(kids[1].content), sha256(await Deno.readFile(`${dir}/stage2.bin`)));
});

Deno.test("pe .NET: findings only where something is notable", async () => {
  const ids = async (name: DotnetFileName) =>
    peFindings((await parse(name)).facts, new Date()).map((f) => f.id);
  const exe = await ids("hello_net.exe");
  // P/Invoke of the three injection APIs counts as importing them; stage2.bin is a PE.
  ok(exe.includes("process_injection_imports"), exe.join());
  ok(exe.includes("resource_executable"), exe.join());
  ok(!exe.includes("dotnet_mixed_mode"));
  deepEqual(await ids("stoqlib_net.dll"), []);
  const mixed = peFindings((await parse("hello_net_mixed.exe")).facts, new Date());
  const f = mixed.find((x) => x.id === "dotnet_mixed_mode")!;
  equal(f.detail.startsWith("CLR flags 0x00000000 lack ILONLY"), true, f.detail);
});

Deno.test("pe .NET: truncated and corrupted assemblies give named errors, never a crash", async () => {
  const whole = await Deno.readFile((await dotnetFiles())["hello_net.exe"]);
  const { net } = await parse("hello_net.exe");
  const named = /CLR (header|metadata)|tables|past the end|BSJB|resource/;
  for (let cut = 0x400; cut < whole.length; cut += 97) {
    let p;
    try {
      p = parsePe(whole.subarray(0, cut), OPTS);
    } catch (e) {
      equal((e as Error).name, "FormatError", `cut ${cut}: ${(e as Error).message}`);
      continue;
    }
    for (const e of p.errors.filter((e) => /CLR/.test(e))) ok(named.test(e), e);
  }
  // Flips inside the metadata (its file offset: RVA in .text).
  const text = parsePe(whole, OPTS).result.sections as Json[];
  const s = text.find((x) =>
    x.virtual_address <= net.metadata.rva &&
    net.metadata.rva < x.virtual_address + x.virtual_size
  )!;
  const from = net.metadata.rva - s.virtual_address + s.raw_address;
  let withErrors = 0;
  for (
    const copy of corruptedCopies(whole, {
      count: 400,
      from,
      to: from + net.metadata.size,
      flips: 3,
    })
  ) {
    const p = parsePe(copy, OPTS);
    if (p.errors.length) withErrors++;
    JSON.stringify(p.result);
  }
  ok(withErrors > 0, "some corrupted copies give named errors");
});

Deno.test("pe .NET: ./stoq scan with no flags reports the assembly and the resources' exact sha256", async () => {
  const files = await dotnetFiles();
  const run = await runStoq(["scan", files["hello_net.exe"]]);
  equal(run.code, 0, show(run));
  const doc = parseDoc(run.stdout);
  const root = doc.results[0];
  const net = (root.workers.pe as Json).dotnet;
  equal(net.assembly.name, "hello_net");
  deepEqual(net.flags.names, ["ILONLY"]);
  const dir = await tempDir("mresources-");
  await sh("monodis", ["--mresources", files["hello_net.exe"]], dir);
  for (const name of ["notes.txt", "stage2.bin"]) {
    const [kid] = doc.results.filter((e) =>
      e.extracted_from.includes(root.payload_id) && e.payload_meta.extra_data.filename === name
    );
    ok(kid, `${name} child: ${show(run)}`);
    equal((kid.workers.hash as Json).sha256, sha256(await Deno.readFile(`${dir}/${name}`)));
  }
  const stage2 = doc.results.find((e) => e.payload_meta.extra_data.filename === "stage2.bin")!;
  ok(stage2.plugins_run.workers.includes("pe"), "the resource's EXE is analysed by pe too");
  deepEqual(doc.errors.filter((e) => e.plugin_name === "pe"), []);
});
