import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import strings from "../../plugins/strings.ts";
import { findStrings } from "../../plugins/lib/text/strings.ts";
import { instantiate, makePayload, makeRequest, sh, tempDir } from "../helpers.ts";

type Found = { offset: number; string: string };

async function scan(content: Uint8Array, options: Record<string, unknown> = {}) {
  const { instance, call } = await instantiate(strings, options);
  const p = makePayload(content);
  const res = await instance.scan!(p, makeRequest(p), call) as {
    results: { strings: (string | Found)[]; truncated?: true };
  };
  return res.results;
}

/** binutils `strings -a -t d` output as {offset, string} records (`-el` for UTF-16LE). */
async function binutils(path: string, min: number, wide = false): Promise<Found[]> {
  const args = ["-a", "-t", "d", "-n", String(min), ...(wide ? ["-el"] : []), path];
  const out = await sh("strings", args);
  const lines = out.split("\n");
  equal(lines.pop(), "", "strings output ends with a newline");
  return lines.map((line) => {
    // `-t d` right-aligns the offset in 7 columns and adds one space; the string may itself
    // start with spaces, so only that one space is taken off.
    const m = /^ *(\d+) (.*)$/s.exec(line);
    ok(m, `unexpected strings line ${JSON.stringify(line)}`);
    return { offset: Number(m[1]), string: m[2] };
  });
}

/** binutils `strings -a -n N` output lines (no offsets), the default output form. */
async function binutilsPlain(path: string, min: number, wide = false): Promise<string[]> {
  const out = await sh("strings", ["-a", "-n", String(min), ...(wide ? ["-el"] : []), path]);
  const lines = out.split("\n");
  lines.pop();
  return lines;
}

/** A small deterministic PRNG so that a failing fuzz case can be reproduced. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Bytes made to stress the edge cases: random noise, ASCII runs of every short length, tabs,
 * DEL and high bytes next to text, UTF-16LE runs at even and odd offsets, runs cut by EOF.
 */
function fuzzBytes(seed: number, size: number): Uint8Array {
  const rnd = mulberry32(seed);
  const out = new Uint8Array(size);
  const printable = () => 0x20 + Math.floor(rnd() * 95);
  let i = 0;
  while (i < size) {
    const kind = rnd();
    const len = 1 + Math.floor(rnd() * 12);
    for (let k = 0; k < len && i < size; k++) {
      if (kind < 0.3) out[i++] = Math.floor(rnd() * 256);
      else if (kind < 0.55) out[i++] = rnd() < 0.1 ? 0x09 : printable();
      else if (kind < 0.6) out[i++] = [0x00, 0x7f, 0x80, 0xff, 0x0a, 0x0d, 0x1f][k % 7];
      else {
        out[i++] = rnd() < 0.05 ? 0x09 : printable();
        if (i < size) out[i++] = rnd() < 0.03 ? 0x01 : 0;
      }
    }
  }
  return out;
}

Deno.test("strings: ASCII strings of /usr/bin/ls equal binutils strings -a -n N, in order", async () => {
  const bin = await Deno.readFile("/usr/bin/ls");
  for (const min of [4, 8, 1]) {
    const want = await binutilsPlain("/usr/bin/ls", min);
    ok(want.length > 100, "ls has many strings");
    const got = await scan(bin, { min_length: min, encodings: ["ascii"], max_strings: 1e7 });
    deepEqual(got, { strings: want }, `min_length ${min}`);
  }
});

Deno.test("strings: offsets of /usr/bin/ls equal binutils strings -a -t d", async () => {
  const bin = await Deno.readFile("/usr/bin/ls");
  const want = await binutils("/usr/bin/ls", 6);
  const got = await scan(bin, {
    min_length: 6,
    encodings: ["ascii"],
    offsets: true,
    max_strings: 1e7,
  });
  deepEqual(got, { strings: want });
});

Deno.test("strings: UTF-16LE strings of a PE built with mingw equal binutils strings -el", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(
    `${dir}/wide.c`,
    `#include <windows.h>
#include <wchar.h>
const wchar_t *banner = L"Wide banner: C:\\\\Users\\\\Public\\\\evil.dll";
const wchar_t *tabbed = L"tab\\there";
const char *narrow = "narrow ascii string";
int main(void) {
  MessageBoxW(NULL, L"Hello from a UTF-16 message box", L"Caption", MB_OK);
  wprintf(L"%ls %ls\\n", banner, tabbed);
  return 0;
}
`,
  );
  await sh("x86_64-w64-mingw32-gcc", ["-O0", "-o", `${dir}/wide.exe`, `${dir}/wide.c`]);
  const path = `${dir}/wide.exe`;
  const bin = await Deno.readFile(path);
  for (const min of [4, 3, 10]) {
    const want = await binutils(path, min, true);
    const texts = want.map((w) => w.string);
    ok(texts.includes("Hello from a UTF-16 message box"), `min ${min}: ${texts.join("|")}`);
    const got = await scan(bin, {
      min_length: min,
      encodings: ["utf16le"],
      offsets: true,
      max_strings: 1e7,
    });
    deepEqual(got, { strings: want }, `min_length ${min}`);
  }
  // Both encodings together: the union of both binutils runs, in offset order.
  const both = [...await binutils(path, 5), ...await binutils(path, 5, true)]
    .sort((a, b) => a.offset - b.offset);
  const got = await scan(bin, { min_length: 5, offsets: true, max_strings: 1e7 });
  deepEqual(got, { strings: both });
  ok(both.some((s) => s.string === "narrow ascii string"));
  ok(both.some((s) => s.string === "tab\there"));
});

Deno.test("strings: fuzzed bytes (odd-aligned UTF-16, tabs, runs cut by EOF) agree with binutils", async () => {
  const dir = await tempDir();
  for (let seed = 1; seed <= 12; seed++) {
    const bytes = fuzzBytes(seed, 3000 + seed * 997);
    const path = `${dir}/fuzz${seed}.bin`;
    await Deno.writeFile(path, bytes);
    for (const min of [1, 2, 4, 7]) {
      for (const wide of [false, true]) {
        const want = await binutils(path, min, wide);
        const got = findStrings(bytes, {
          minLength: min,
          encodings: [wide ? "utf16le" : "ascii"],
          maxStrings: 1e7,
        });
        deepEqual(got, { strings: want, truncated: false }, `seed ${seed} min ${min} wide ${wide}`);
      }
    }
  }
});

Deno.test("strings: hand-made edge cases", async () => {
  const b = (...parts: (string | number[])[]) =>
    new Uint8Array(
      parts.flatMap((p) => typeof p === "string" ? [...p].map((c) => c.charCodeAt(0)) : p),
    );
  // An odd-aligned UTF-16 run, then an even one cut by EOF in the middle of a unit (the lone
  // "I" has no high byte, so it is not a character, as in binutils).
  const data = b("X", "A\0B\0C\0D\0", [1, 1, 1], "E\0F\0G\0H\0", "I");
  deepEqual(await scan(data, { encodings: ["utf16le"], offsets: true }), {
    strings: [{ offset: 1, string: "ABCD" }, { offset: 12, string: "EFGH" }],
  });
  // Tab is graphic (as in binutils); DEL, newline and bytes over 0x7e are not.
  deepEqual(await scan(b("ab\tcd  e", [0x7f, 0x80], "xyz12\nQQQQ"), { encodings: ["ascii"] }), {
    strings: ["ab\tcd  e", "xyz12", "QQQQ"],
  });
  deepEqual(await scan(new Uint8Array(0)), { strings: [] });
  deepEqual(await scan(b("abc")), { strings: [] });
  deepEqual(await scan(b("abc"), { min_length: 3 }), { strings: ["abc"] });
});

Deno.test("strings: max_strings caps the list, says truncated, and keeps the first ones", async () => {
  const bin = await Deno.readFile("/usr/bin/ls");
  const full = await scan(bin, { max_strings: 1e7, offsets: true });
  ok(full.strings.length > 50);
  equal(full.truncated, undefined);
  const capped = await scan(bin, { max_strings: 50, offsets: true });
  deepEqual(capped, { strings: full.strings.slice(0, 50), truncated: true });
  const exact = await scan(bin, { max_strings: full.strings.length, offsets: true });
  deepEqual(exact, { strings: full.strings });
});

Deno.test("strings: 40 MB of concatenated binaries agree with binutils, both encodings merged by offset", async () => {
  const dir = await tempDir();
  const path = `${dir}/big.bin`;
  const parts: Uint8Array[] = [];
  let size = 0;
  for (const entry of Deno.readDirSync("/usr/bin")) {
    if (size > 40 * 1024 * 1024) break;
    try {
      const info = Deno.statSync(`/usr/bin/${entry.name}`);
      if (!info.isFile || info.size < 10_000) continue;
      const bytes = Deno.readFileSync(`/usr/bin/${entry.name}`);
      parts.push(bytes);
      size += bytes.length;
    } catch { /* unreadable: skip */ }
  }
  const big = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    big.set(p, at);
    at += p.length;
  }
  await Deno.writeFile(path, big);
  const want = [...await binutils(path, 4), ...await binutils(path, 4, true)]
    .sort((a, b) => a.offset - b.offset);
  const got = findStrings(big, { minLength: 4, encodings: ["ascii", "utf16le"], maxStrings: 1e8 });
  equal(got.strings.length, want.length);
  deepEqual(got.strings, want);
});

Deno.test("strings: bad options are rejected", async () => {
  await rejects(instantiate(strings, { min_length: 0 }), /min_length/);
  await rejects(instantiate(strings, { encodings: [] }), /encodings/);
  await rejects(instantiate(strings, { encodings: ["utf8"] }), /encodings/);
  await rejects(instantiate(strings, { max_strings: 0 }), /max_strings/);
  await rejects(instantiate(strings, { offsets: "yes" }), /offsets/);
});
