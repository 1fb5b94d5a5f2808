/** The elf plugin, value by value against binutils' readelf, on binaries gcc and clang build. */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import elf from "../../plugins/elf.ts";
import type { ElfInfo } from "../../plugins/lib/elf/parse.ts";
import { instantiate, makePayload, makeRequest, sh } from "../helpers.ts";
import { corruptedCopies } from "../fixtures/cache.ts";
import {
  type BinaryFileName,
  binaryFiles,
  PIE_SECURITY,
  textbookEntropy,
} from "../fixtures/binaries_files.ts";

const { instance, call } = await instantiate(elf);

async function scan(content: Uint8Array) {
  const p = makePayload(content);
  const res = await instance.scan!(p, makeRequest(p), call) as {
    results?: ElfInfo & { findings: { id: string }[] };
    errors?: string[];
  };
  return res;
}

const readelf = (args: string[], path: string) => sh("readelf", ["-W", ...args, path]);
const num = (s: string) => Number(BigInt(s.startsWith("0x") ? s : `0x${s}`));

/** readelf's long machine names for the e_machine values the fixtures use. */
const MACHINE_TEXT: Record<number, string> = {
  62: "Advanced Micro Devices X86-64",
  3: "Intel 80386",
  21: "PowerPC64",
};

/** Compares every field the plugin reports with readelf's output for the same file. */
async function compare(path: string): Promise<ElfInfo> {
  const res = await scan(await Deno.readFile(path));
  equal(res.errors, undefined, path);
  const info = res.results!;

  // Header.
  const h = await readelf(["-h"], path);
  const field = (name: string) => new RegExp(`^\\s*${name}:\\s*(.*)$`, "m").exec(h)![1].trim();
  equal(info.class, field("Class"), `${path} class`);
  equal(info.endianness, /little/.test(field("Data")) ? "little" : "big");
  equal(info.os_abi, field("OS/ABI"));
  equal(info.abi_version, Number(field("ABI Version")));
  equal(info.type, field("Type").split(" ")[0]);
  equal(MACHINE_TEXT[info.machine_id], field("Machine"), `${path} machine`);
  equal(num(info.entry_point), num(field("Entry point address")));
  equal(num(info.flags), num(field("Flags").split(",")[0]));
  equal(info.header.program_header_offset, parseInt(field("Start of program headers")));
  equal(info.header.section_header_offset, parseInt(field("Start of section headers")));
  equal(info.header.program_header_count, Number(field("Number of program headers")));
  equal(info.header.section_header_count, Number(field("Number of section headers")));
  equal(info.header.section_name_index, Number(field("Section header string table index")));

  // Sections: [Nr] Name Type Address Off Size ES Flg Lk Inf Al
  const secs = [...(await readelf(["-S"], path)).matchAll(
    /^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([A-Za-z]*)\s+\d+/gm,
  )].map((m) => ({
    index: Number(m[1]),
    name: m[2],
    // binutils 2.40 predates LLVM's section types; 0x6fff4c03 is SHT_LLVM_ADDRSIG.
    type: m[3] === "LOOS+0xfff4c03" ? "LLVM_ADDRSIG" : m[3],
    address: num(m[4]),
    offset: num(m[5]),
    size: num(m[6]),
    flags: m[7],
  }));
  // readelf -W prints an empty name as nothing, which shifts the columns of section 0 only.
  deepEqual(
    info.sections.filter((s) => s.index > 0).map((s) => ({
      index: s.index,
      name: s.name,
      type: s.type,
      address: num(s.address),
      offset: s.offset,
      size: s.size,
      flags: s.flags,
    })),
    secs.filter((s) => s.index > 0),
    `${path} sections`,
  );
  // Entropy over the bytes where readelf puts each section (none for NOBITS or empty ones).
  const bytes = await Deno.readFile(path);
  for (const s of info.sections) {
    const where = secs.find((x) => x.index === s.index);
    if (s.index === 0 || !where || where.type === "NOBITS" || where.size === 0) {
      equal(s.entropy, undefined, `${path} ${s.name} entropy`);
      continue;
    }
    const want = textbookEntropy(bytes.subarray(where.offset, where.offset + where.size));
    ok(Math.abs(s.entropy! - want) <= 0.00005 + 1e-12, `${path} ${s.name} entropy ${s.entropy}`);
  }

  // Segments: Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align
  const l = await readelf(["-l"], path);
  const segs = [...l.matchAll(
    /^\s+([A-Z_]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+([RWE ]{1,3}?)\s+0x([0-9a-f]+)$/gm,
  )].map((m) => ({
    type: m[1],
    offset: num(m[2]),
    vaddr: num(m[3]),
    file_size: num(m[4]),
    mem_size: num(m[5]),
    flags: (m[6].includes("R") ? "r" : "-") + (m[6].includes("W") ? "w" : "-") +
      (m[6].includes("E") ? "x" : "-"),
    align: num(m[7]),
  }));
  deepEqual(
    info.segments.map((s) => ({ ...s, vaddr: num(s.vaddr) })),
    segs,
    `${path} segments`,
  );
  equal(info.interpreter, /Requesting program interpreter: ([^\]]+)\]/.exec(l)?.[1], "interpreter");

  // Dynamic section.
  const d = await readelf(["-d"], path);
  deepEqual(
    info.needed,
    [...d.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]),
  );
  equal(info.soname, /\(SONAME\)\s+Library soname: \[([^\]]+)\]/.exec(d)?.[1]);
  const bindNow = /\(BIND_NOW\)|\(FLAGS\)\s+.*BIND_NOW|\(FLAGS_1\)\s+Flags:.*\bNOW\b/.test(d);
  equal(info.security.bind_now, bindNow, "bind_now");
  const relro = segs.some((s) => s.type === "GNU_RELRO");
  equal(info.security.relro, relro ? (bindNow ? "full" : "partial") : "none");
  const stack = segs.find((s) => s.type === "GNU_STACK");
  equal(info.security.nx, stack !== undefined && !stack.flags.includes("x"), "nx");
  equal(
    info.security.pie,
    /\(FLAGS_1\)\s+Flags:.*\bPIE\b/.test(d) || (info.type === "DYN" && !!info.interpreter),
  );

  // Notes.
  equal(info.build_id, /Build ID: ([0-9a-f]+)/.exec(await readelf(["-n"], path))?.[1], "build-id");

  // Symbols: Num Value Size Type Bind Vis Ndx Name (readelf appends @VERSION to dynamic names).
  const table = secs.some((s) => s.type === "DYNSYM") ? "--dyn-syms" : "--syms";
  const rows = [...(await readelf([table], path)).matchAll(
    /^ *\d+: +[0-9a-f]+ +\S+ +(\w+) +(\w+) +(\w+) +(\S+) *(\S*)/gm,
  )].map((m) => ({ type: m[1], bind: m[2], vis: m[3], ndx: m[4], name: m[5].replace(/@.*$/, "") }))
    .filter((r) => r.name !== "");
  const global = rows.filter((r) => ["GLOBAL", "WEAK", "UNIQUE"].includes(r.bind));
  const imported = global.filter((r) => r.ndx === "UND").map((r) => r.name);
  const exported = global.filter((r) =>
    r.ndx !== "UND" && !["SECTION", "FILE"].includes(r.type) &&
    ["DEFAULT", "PROTECTED"].includes(r.vis)
  ).map((r) => r.name);
  deepEqual(info.symbols.imported, imported.slice(0, 500), `${path} imported`);
  deepEqual(info.symbols.exported, exported.slice(0, 500), `${path} exported`);
  equal(info.symbols.imported_count, imported.length);
  equal(info.symbols.exported_count, exported.length);
  equal(
    info.symhash,
    imported.length
      ? createHash("md5").update([...new Set(imported)].sort().join(",")).digest("hex")
      : undefined,
  );
  equal(info.stripped, !secs.some((s) => s.type === "SYMTAB"), "stripped");
  return info;
}

Deno.test("elf: every field equals readelf's on gcc and clang builds and a Debian binary", async () => {
  const files = await binaryFiles();
  const names: BinaryFileName[] = [
    "pie.elf",
    "static.elf",
    "stripped.elf",
    "libdemo.so",
    "i386.o",
    "ppc64.o",
  ];
  for (const name of names) await compare(files[name]);
  await compare("/usr/bin/ls");
});

Deno.test("elf: the hardening of each build is what its compiler flags asked for", async () => {
  const files = await binaryFiles();
  const pie = await compare(files["pie.elf"]);
  deepEqual(pie.security, PIE_SECURITY);
  deepEqual([pie.stripped, pie.static, pie.symbols.source], [false, false, ".dynsym"]);
  ok(pie.symbols.imported.includes("__strcpy_chk"));
  const stripped = await compare(files["stripped.elf"]);
  deepEqual([stripped.stripped, stripped.build_id], [true, pie.build_id]);
  const stat = await compare(files["static.elf"]);
  deepEqual([stat.static, stat.type, stat.interpreter, stat.needed], [true, "EXEC", undefined, []]);
  const lib = await compare(files["libdemo.so"]);
  deepEqual([lib.soname, lib.needed, lib.security.pie], ["libdemo.so.1", ["libm.so.6"], false]);
  deepEqual(lib.symbols.exported.sort(), ["demo_call", "demo_counter", "demo_hypot"]);
  const ppc = await compare(files["ppc64.o"]);
  deepEqual([ppc.class, ppc.endianness, ppc.machine, ppc.type], ["ELF64", "big", "ppc64", "REL"]);
  const x86 = await compare(files["i386.o"]);
  deepEqual([x86.class, x86.machine], ["ELF32", "i386"]);
  const res = await scan(await Deno.readFile(files["stripped.elf"]));
  deepEqual(res.results!.findings.map((f) => f.id), ["stripped"]);
});

Deno.test("elf: truncated and corrupted copies give named errors and what was parsed, never a throw", async () => {
  const files = await binaryFiles();
  const full = await Deno.readFile(files["pie.elf"]);
  for (const cut of [0, 4, 16, 40, 63, 64, 200, 1000, 4096, full.length - 100, full.length - 1]) {
    const res = await scan(full.slice(0, cut));
    if (cut < 64) {
      equal(res.results, undefined, `cut ${cut}`);
      ok(res.errors?.length, `cut ${cut}`);
    } else if (cut < full.length - 64 * 30) {
      ok(res.results, `cut ${cut}`);
      ok(res.errors?.some((e) => /past the end of the file/.test(e)), `cut ${cut}: ${res.errors}`);
    }
  }
  // The section table cut off: segments, interpreter and header remain.
  const res = await scan(full.slice(0, full.length - 100));
  equal(res.results!.interpreter, "/lib64/ld-linux-x86-64.so.2");
  match(res.errors!.join(" "), /^elf: section headers: /);
  // Random corruption of header fields never throws and never hangs.
  for (const copy of corruptedCopies(full, { count: 300, to: 0x400, flips: 8, seed: 7 })) {
    await scan(copy);
  }
  // Section header string table index out of range, section count huge.
  const bad = full.slice();
  new DataView(bad.buffer).setUint16(62, 0x7fff, true);
  ok((await scan(bad)).results);
});
