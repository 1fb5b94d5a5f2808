/**
 * The macho plugin, value by value against llvm-readobj-14, llvm-objdump-14 --macho and
 * llvm-nm-14, on executables and a dylib linked by ld64.lld-14 and a fat file from llvm-lipo-14
 * (Debian has no Apple SDK: the programs use no headers and link against a libSystem text stub).
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import macho from "../../plugins/macho.ts";
import type { FatInfo, MachoInfo } from "../../plugins/lib/macho/parse.ts";
import { instantiate, makePayload, makeRequest, sh, tempDir } from "../helpers.ts";
import { binaryFiles, textbookEntropy } from "../fixtures/binaries_files.ts";
import { corruptedCopies } from "../fixtures/cache.ts";
import { realFiles } from "../realfiles.ts";

const { instance, call } = await instantiate(macho);

interface Res {
  results?: (MachoInfo & { findings: { id: string }[] }) | { fat: FatInfo };
  extracted?: { content: Uint8Array; payload_meta: { extra_data: Record<string, unknown> } }[];
  errors?: string[];
}

async function scan(content: Uint8Array): Promise<Res> {
  const p = makePayload(content, { extra_data: { filename: "sample" } });
  return await instance.scan!(p, makeRequest(p), call) as Res;
}

const num = (s: string) => Number(BigInt(s));
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** llvm-objdump's load commands: one map of `key value` lines per command, sections apart. */
async function loadCommands(path: string) {
  const text = await sh("llvm-objdump-14", ["--macho", "--private-headers", path]);
  return text.split(/^Load command \d+$/m).slice(1).map((block) => {
    const [head, ...sections] = block.split(/^Section$/m);
    const kv = (t: string) =>
      Object.fromEntries(
        [...t.matchAll(
          /^[ \t]*(current version|compatibility version|time stamp|[a-z]+)[ \t]+(.*)$/gm,
        )]
          .map((m) => [m[1], m[2].trim()]),
      );
    return { ...kv(head), sections: sections.map(kv) } as Record<string, string> & {
      sections: Record<string, string>[];
    };
  });
}

/** Compares every field the plugin reports for a thin file with the LLVM tools' output. */
async function compare(path: string): Promise<MachoInfo> {
  const res = await scan(await Deno.readFile(path));
  equal(res.errors, undefined, path);
  const info = res.results as MachoInfo;

  const h = await sh("llvm-readobj-14", ["--file-headers", path]);
  const hv = (k: string) => num(new RegExp(`${k}: .*\\((0x[0-9A-F]+)\\)`).exec(h)![1]);
  equal(info.cpu_type, hv("CpuType"));
  equal(info.cpu_subtype, hv("CpuSubType") & 0xffffff);
  equal(info.load_command_count, Number(/NumOfLoadCommands: (\d+)/.exec(h)![1]));
  equal(info.load_commands_size, Number(/SizeOfLoadCommands: (\d+)/.exec(h)![1]));
  deepEqual(
    [...info.flags].sort(),
    [...h.matchAll(/^\s+MH_(\w+) \(0x/gm)].map((m) => m[1]).sort(),
    "flags",
  );
  // llvm-readobj calls arm64 by its LLVM name.
  equal(info.arch, /^Arch: (\S+)/m.exec(h)![1].replace("aarch64", "arm64"));

  const lcs = await loadCommands(path);
  deepEqual(info.load_commands, lcs.map((c) => ({ cmd: c.cmd, size: Number(c.cmdsize) })));
  const segs = lcs.filter((c) => c.cmd === "LC_SEGMENT_64" || c.cmd === "LC_SEGMENT");
  deepEqual(
    info.segments.map((
      s,
    ) => [
      s.name,
      num(s.vmaddr),
      num(s.vmsize),
      s.file_offset,
      s.file_size,
      s.max_protection,
      s.initial_protection,
      s.section_count,
    ]),
    segs.map((
      s,
    ) => [
      s.segname,
      num(s.vmaddr),
      num(s.vmsize),
      Number(s.fileoff),
      Number(s.filesize),
      s.maxprot,
      s.initprot,
      Number(s.nsects),
    ]),
    "segments",
  );
  deepEqual(
    info.sections.map((s) => [s.name, s.segment, num(s.address), s.size, s.offset, `S_${s.type}`]),
    segs.flatMap((s) => s.sections).map((
      s,
    ) => [s.sectname, s.segname, num(s.addr), num(s.size), Number(s.offset), s.type]),
    "sections",
  );
  // Entropy over the bytes where llvm-objdump puts each section (none for zero-fill ones).
  const bytes = await Deno.readFile(path);
  const objdumpSections = segs.flatMap((s) => s.sections);
  info.sections.forEach((s, i) => {
    const { offset, size, type } = objdumpSections[i];
    const [at, len] = [Number(offset), num(size)];
    if (/ZEROFILL/.test(type) || at === 0 || len === 0) {
      equal(s.entropy, undefined, `${s.name} entropy`);
      return;
    }
    const want = textbookEntropy(bytes.subarray(at, at + len));
    ok(Math.abs(s.entropy! - want) <= 0.00005 + 1e-12, `${s.name} entropy ${s.entropy}`);
  });
  const dylibCmds: Record<string, string> = {
    LC_LOAD_DYLIB: "load",
    LC_LOAD_WEAK_DYLIB: "weak",
    LC_REEXPORT_DYLIB: "reexport",
    LC_LAZY_LOAD_DYLIB: "lazy",
    LC_LOAD_UPWARD_DYLIB: "upward",
  };
  deepEqual(
    info.dylibs,
    lcs.filter((c) => dylibCmds[c.cmd]).map((c) => ({
      name: c.name.replace(/ \(offset \d+\)$/, ""),
      kind: dylibCmds[c.cmd],
      current_version: c["current version"],
      compatibility_version: c["compatibility version"],
    })),
    "dylibs",
  );
  const one = (cmd: string) => lcs.find((c) => c.cmd === cmd);
  equal(info.id_dylib, one("LC_ID_DYLIB")?.name.replace(/ \(offset \d+\)$/, ""));
  equal(info.dylinker, one("LC_LOAD_DYLINKER")?.name.replace(/ \(offset \d+\)$/, ""));
  deepEqual(
    info.rpaths,
    lcs.filter((c) => c.cmd === "LC_RPATH").map((c) => c.path.replace(/ \(offset \d+\)$/, "")),
  );
  equal(info.uuid, one("LC_UUID")?.uuid);
  const bv = one("LC_BUILD_VERSION");
  deepEqual(
    info.build_version &&
      [info.build_version.platform, info.build_version.min_os, info.build_version.sdk],
    bv && [bv.platform, bv.minos, bv.sdk],
  );
  equal(info.entry_point?.file_offset, one("LC_MAIN") && Number(one("LC_MAIN")!.entryoff));
  const cs = one("LC_CODE_SIGNATURE");
  deepEqual(
    info.code_signature && [info.code_signature.offset, info.code_signature.size],
    cs && [Number(cs.dataoff), Number(cs.datasize)],
  );

  const nm = async (args: string[]) =>
    (await sh("llvm-nm-14", [...args, path])).split("\n").map((l) => l.trim().split(/\s+/).at(-1)!)
      .filter(Boolean);
  const undef = await nm(["-u"]);
  deepEqual([...info.symbols.imported].sort(), [...undef].sort(), "imported");
  deepEqual(
    [...info.symbols.exported].sort(),
    (await nm(["-g", "--defined-only"])).sort(),
    "exported",
  );
  equal(info.symhash, createHash("md5").update([...undef].sort().join(",")).digest("hex"));
  // Local symbols are llvm-nm's lower-case types (stabs aside: -a lists them with a '-').
  const locals = (await sh("llvm-nm-14", [path])).split("\n").filter((l) => / [a-z] /.test(l));
  equal(info.symbols.local_count, locals.length);
  equal(info.stripped, locals.length === 0);
  return info;
}

Deno.test("macho: linked executables, a dylib and a stripped copy match the LLVM tools field by field", async () => {
  const f = await binaryFiles();
  const x86 = await compare(f["x86_64.macho"]);
  deepEqual([x86.file_type, x86.arch, x86.pie, x86.stripped], [
    "MH_EXECUTE",
    "x86_64",
    true,
    false,
  ]);
  deepEqual(x86.build_version, {
    platform: "macos",
    min_os: "11.0",
    sdk: "12.1",
    tools: ["ld 14.0.6"],
  });
  const arm = await compare(f["arm64.macho"]);
  // lld signs arm64 output ad hoc, naming the code after the output file.
  deepEqual([arm.code_signature?.adhoc, arm.code_signature?.identifier], [true, "arm64.macho"]);
  const stripped = await compare(f["stripped.macho"]);
  deepEqual([stripped.stripped, stripped.uuid], [true, x86.uuid]);
  const lib = await compare(f["libdemo.dylib"]);
  deepEqual([lib.file_type, lib.id_dylib, lib.rpaths], ["MH_DYLIB", "@rpath/libdemo.dylib", [
    "@loader_path/../Frameworks",
  ]]);
  deepEqual(lib.symbols.exported.sort(), ["_demo_api", "_demo_value"]);
  // clang objects (tests/realfiles.ts): no dylibs, no UUID, symbols from the object's table.
  const real = await realFiles();
  const obj = await compare(real["hello.macho"]);
  deepEqual([obj.file_type, obj.uuid, obj.dylibs], ["MH_OBJECT", undefined, []]);
  const findings = (await scan(await Deno.readFile(f["x86_64.macho"]))).results as {
    findings: { id: string }[];
  };
  deepEqual(findings.findings.map((x) => x.id), ["unsigned"]);
});

Deno.test("macho: a fat file is split into its slices, byte for byte what llvm-lipo extracts", async () => {
  const f = await binaryFiles();
  const res = await scan(await Deno.readFile(f["fat.macho"]));
  equal(res.errors, undefined);
  const fat = (res.results as { fat: FatInfo }).fat;
  const text = await sh("llvm-objdump-14", ["--macho", "--universal-headers", f["fat.macho"]]);
  const archs = [
    ...text.matchAll(
      /^architecture (\S+)\n[\s\S]*?offset (\d+)\n\s+size (\d+)\n\s+align 2\^\d+ \((\d+)\)/gm,
    ),
  ]
    .map((m) => [m[1], Number(m[2]), Number(m[3]), Number(m[4])]);
  deepEqual(fat.architectures.map((a) => [a.arch, a.offset, a.size, a.align]), archs);
  const dir = await tempDir();
  equal(res.extracted!.length, 2);
  for (const [i, a] of fat.architectures.entries()) {
    await sh("llvm-lipo-14", [f["fat.macho"], "-thin", a.arch, "-output", `${dir}/${a.arch}`]);
    const child = res.extracted![i];
    equal(sha256(child.content), sha256(await Deno.readFile(`${dir}/${a.arch}`)), a.arch);
    deepEqual(child.payload_meta.extra_data, {
      filename: `sample.${a.arch}`,
      offset: a.offset,
      index: i,
      arch: a.arch,
    });
  }
  // The slices are the linked files lipo was given.
  equal(sha256(res.extracted![0].content), sha256(await Deno.readFile(f["x86_64.macho"])));
  equal(sha256(res.extracted![1].content), sha256(await Deno.readFile(f["arm64.macho"])));
});

Deno.test("macho: truncated and corrupted files give named errors and keep what was parsed", async () => {
  const f = await binaryFiles();
  const full = await Deno.readFile(f["arm64.macho"]);
  for (const cut of [0, 10, 27, 32, 100, 700, 1400, 20000, full.length - 10]) {
    const res = await scan(full.slice(0, cut));
    ok(res.errors?.length, `cut ${cut}`);
    if (cut >= 32) ok(res.results, `cut ${cut}`);
  }
  // Load commands cut: the header and the commands before the cut are kept.
  const cut = await scan(full.slice(0, 700));
  match(cut.errors!.join(" "), /load command \d+ .* at offset \d+/);
  ok((cut.results as MachoInfo).segments.length >= 1);
  // Signature cut off: everything else is kept.
  const nosig = await scan(full.slice(0, full.length - 10));
  match(nosig.errors!.join(" "), /code signature: .*past the end of the file/);
  equal((nosig.results as MachoInfo).uuid, (await compare(f["arm64.macho"])).uuid);
  // A fat header whose slice runs past the end: the error names it, the other slice is kept.
  const fat = await Deno.readFile(f["fat.macho"]);
  const short = await scan(fat.slice(0, fat.length - 1));
  match(
    short.errors!.join(" "),
    /fat architecture 1 \(arm64\): slice at offset 32768 .* outside the file/,
  );
  equal(short.extracted!.length, 1);
  // Random corruption of the load commands never throws and never hangs.
  for (const copy of corruptedCopies(full, { count: 300, from: 32, to: 1432, flips: 8, seed: 3 })) {
    await scan(copy);
  }
});
