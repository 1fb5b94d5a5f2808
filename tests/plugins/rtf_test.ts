/**
 * The rtf worker on RTF packages: the plain one LibreOffice imports (checked here against a
 * python3 reading of the same \objdata), the obfuscated one, and tests/realfiles.ts' object.rtf.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import type { WorkerResponse } from "../../core/engine/plugin.ts";
import rtf from "../../plugins/rtf.ts";
import { runStoq, show } from "../cli_helpers.ts";
import { instantiate, makePayload, makeRequest, sh, sha256 } from "../helpers.ts";
import { realFiles } from "../realfiles.ts";
import { officeFiles, PACKAGE_LABEL, PACKAGE_PATH } from "../fixtures/office_files.ts";

type Obj = Record<string, unknown> & {
  package?: Record<string, unknown>;
  ole1?: Record<string, unknown>;
};

async function scan(content: Uint8Array | string, options: Record<string, unknown> = {}) {
  const { instance, call } = await instantiate(rtf, options);
  const p = makePayload(content);
  const res = await instance.scan!(p, makeRequest(p), call) as WorkerResponse;
  return { res, objects: (res.results as { objects: Obj[] }).objects };
}

/** python3's reading of a plain RTF: objdata hex → OLE1 → Package fields and the file's sha256. */
async function pythonReading(path: string) {
  return JSON.parse(
    await sh("/usr/bin/python3", [
      "-c",
      `import hashlib, json, re, struct, sys
rtf = open(sys.argv[1], "rb").read()
hexdata = re.sub(rb"[^0-9a-fA-F]", b"", re.search(rb"\\\\objdata(.*?)}", rtf, re.S).group(1))
ole = bytes.fromhex(hexdata.decode())
p = 8
def lpstr():
    global p
    n = struct.unpack_from("<I", ole, p)[0]; s = ole[p + 4:p + 4 + n].rstrip(b"\\0").decode("latin-1"); p += 4 + n
    return s
cls = lpstr(); lpstr(); lpstr()
size = struct.unpack_from("<I", ole, p)[0]; native = ole[p + 4:p + 4 + size]
q = 2
def cstr():
    global q
    e = native.index(b"\\0", q); s = native[q:e].decode("latin-1"); q = e + 1
    return s
label = cstr(); src = cstr(); q += 4
n = struct.unpack_from("<I", native, q)[0]; tmp = native[q + 4:q + 4 + n].rstrip(b"\\0").decode("latin-1"); q += 4 + n
n = struct.unpack_from("<I", native, q)[0]; data = native[q + 4:q + 4 + n]
print(json.dumps({"class": cls, "label": label, "source": src, "temp": tmp, "sha256": hashlib.sha256(data).hexdigest()}))`,
      path,
    ]),
  );
}

Deno.test("rtf: an OLE Package gives the packaged file by name, as python3 reads it", async () => {
  const real = await realFiles();
  const office = await officeFiles();
  const exe = sha256(await Deno.readFile(real["hello.exe"]));
  for (
    const [path, name] of [[office["package.rtf"], PACKAGE_LABEL], [
      real["object.rtf"],
      "notes.txt",
    ]]
  ) {
    const { res, objects } = await scan(await Deno.readFile(path));
    deepEqual(res.errors, [], path);
    const py = await pythonReading(path);
    equal(objects.length, 1);
    equal(objects[0].class_name, "Package");
    equal(objects[0].kind, "embedded");
    deepEqual(
      [objects[0].package!.label, objects[0].package!.source_path, objects[0].package!.temp_path],
      [py.label, py.source, py.temp],
    );
    equal(objects[0].package!.filename, name);
    equal(res.extracted!.length, 1);
    equal(res.extracted![0].payload_meta?.extra_data?.filename, name);
    equal(sha256(res.extracted![0].content as Uint8Array), py.sha256);
    if (name === PACKAGE_LABEL) {
      equal(py.sha256, exe);
      equal(objects[0].package!.source_path, PACKAGE_PATH);
      const findings = (res.results as { findings: { id: string }[] }).findings;
      deepEqual(findings.map((f) => f.id), ["embedded_executable"]);
    } else {
      equal(
        new TextDecoder().decode(res.extracted![0].content as Uint8Array),
        "Packaged by the stoq test suite.\r\n",
      );
    }
  }
});

Deno.test("rtf: obfuscation (junk and whitespace in hex, \\bin, nested groups, no closing brace)", async () => {
  const real = await realFiles();
  const office = await officeFiles();
  const { res, objects } = await scan(await Deno.readFile(office["obfuscated.rtf"]));
  equal(objects.length, 1);
  equal(objects[0].class_name, "Package");
  equal(objects[0].unterminated, true);
  ok(Number(objects[0].junk_characters) > 1000, String(objects[0].junk_characters));
  equal(objects[0].package!.filename, PACKAGE_LABEL);
  equal(
    sha256(res.extracted![0].content as Uint8Array),
    sha256(await Deno.readFile(real["hello.exe"])),
  );
});

Deno.test("rtf: exploit classes, links, raw data and caps", async () => {
  const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  const lp = (s: string) => {
    const b = new TextEncoder().encode(s + "\0");
    return [b.length & 0xff, 0, 0, 0, ...b];
  };
  const eq = Uint8Array.from([
    1,
    5,
    0,
    0,
    2,
    0,
    0,
    0,
    ...lp("Equation.3"),
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    4,
    0,
    0,
    0,
    1,
    2,
    3,
    4,
  ]);
  const link = Uint8Array.from([
    1,
    5,
    0,
    0,
    1,
    0,
    0,
    0,
    ...lp("OLE2Link"),
    ...lp("http://198.51.100.7/x.doc"),
    ...lp(""),
  ]);
  const doc =
    `{\\rtf1{\\object\\objemb{\\*\\objdata ${hex(eq)}}}{\\object\\objautlink{\\*\\objdata ${
      hex(link)
    }}}` +
    `{\\*\\objdata 41424344}}`;
  const { res, objects } = await scan(doc);
  deepEqual(
    objects.map((o) => (o.ole1 as Record<string, unknown> | undefined)?.class_name ?? null),
    ["Equation.3", "OLE2Link", null],
  );
  const ids = (res.results as { findings: { id: string }[] }).findings.map((f) => f.id);
  deepEqual(ids, ["equation_editor_object", "ole2link_object", "linked_object"]);
  deepEqual(res.extracted!.map((k) => k.payload_meta?.extra_data?.filename), [
    "object_0.bin",
    "object_2.bin",
  ]);
  ok(String(res.errors![0]).includes("object 2"));
  const capped = await scan(doc, { max_objects: 1 });
  equal(capped.objects.length, 1);
  equal((capped.res.results as Record<string, unknown>).truncated, true);
});

Deno.test("rtf: hostile input stays bounded", async () => {
  const office = await officeFiles();
  const data = await Deno.readFile(office["package.rtf"]);
  for (let n = 0; n < data.length; n += 509) await scan(data.slice(0, n));
  const deep = "{\\rtf1" + "{".repeat(200_000) + "\\objdata 0102" + "}".repeat(10);
  const { objects, res } = await scan(deep, { max_depth: 1000 });
  equal(objects.length, 1);
  equal((res.results as Record<string, unknown>).truncated, true);
  const bin = await scan("{\\rtf1{\\*\\objdata \\bin999999999 abc}}");
  equal(bin.objects[0].size, 5);
  const many = await scan("{\\rtf1" + "{\\*\\objdata 00}".repeat(5000) + "}", { max_objects: 100 });
  equal(many.objects.length, 100);
});

Deno.test("rtf: stoq scan with no flags gives the packaged executable as a child", async () => {
  const real = await realFiles();
  const office = await officeFiles();
  for (const file of ["package.rtf", "obfuscated.rtf"] as const) {
    const run = await runStoq(["scan", office[file]]);
    equal(run.code, 0, show(run));
    const doc = JSON.parse(run.stdout);
    ok(doc.results[0].plugins_run.workers.includes("rtf"), show(run));
    const exe = doc.results.find((r: { payload_meta: { extra_data: { filename?: string } } }) =>
      r.payload_meta.extra_data.filename === PACKAGE_LABEL
    );
    ok(exe, `${file}: ${PACKAGE_LABEL} is a child`);
    equal(exe.workers.hash.sha256, sha256(await Deno.readFile(real["hello.exe"])));
  }
});
