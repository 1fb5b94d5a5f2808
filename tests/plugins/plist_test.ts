/**
 * The plist plugin against Python's plistlib on XML and binary plists that plistlib wrote:
 * the whole value, key by key, and the launchd fields. A reference bomb and damaged copies
 * give a named error, never a hang or a crash.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import plist from "../../plugins/plist.ts";
import { instantiate, makePayload, makeRequest, sh } from "../helpers.ts";
import { textFiles } from "../fixtures/text_files.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

async function scan(content: Uint8Array | string, options: Record<string, unknown> = {}) {
  const { instance, call } = await instantiate(plist, options);
  const p = makePayload(content);
  return (await instance.scan!(p, makeRequest(p), call)) as Any;
}

/** plistlib's reading as JSON, in the plugin's conventions (data as base64, dates ISO 8601). */
const PLISTLIB = `
import base64, datetime, json, plistlib, sys
def conv(v):
    if isinstance(v, dict): return {k: conv(x) for k, x in v.items()}
    if isinstance(v, list): return [conv(x) for x in v]
    if isinstance(v, bytes): return {'base64': base64.b64encode(v).decode(), 'size': len(v)}
    if isinstance(v, datetime.datetime): return v.strftime('%Y-%m-%dT%H:%M:%SZ')
    return v
print(json.dumps(conv(plistlib.load(open(sys.argv[1], 'rb')))))
`;

for (const [name, format] of [["launch.plist", "xml"], ["launch.bplist", "binary"]] as const) {
  Deno.test(`plist: ${name} (${format}) equals plistlib's reading, value by value`, async () => {
    const files = await textFiles();
    const want = JSON.parse(await sh("python3", ["-c", PLISTLIB, files[name]]));
    const r = (await scan(await Deno.readFile(files[name]))).results;
    equal(r.format, format);
    equal(r.top_type, "dict");
    deepEqual(r.value, want);
    deepEqual(r.keys, Object.keys(want));
    deepEqual(r.launchd, {
      label: want.Label,
      program_arguments: want.ProgramArguments,
      run_at_load: true,
      keep_alive: { SuccessfulExit: false },
      start_interval: 3600,
      environment_variables: { PATH: "/usr/bin:/bin" },
      standard_out_path: "/tmp/.updater.log",
    });
    deepEqual(r.findings.map((f: Any) => [f.id, f.severity]), [
      ["launchd_persistence", "medium"],
      ["launchd_inline_script", "high"],
    ]);
    deepEqual(r.findings[0].mitre, ["T1543.001", "T1543.004"]);
  });
}

Deno.test("plist: a reference bomb (2^40 visits) stops at the object budget with a named error", async () => {
  const files = await textFiles();
  // Bounded by the object budget, not by a clock: the named error below says where it stopped.
  const out = await scan(await Deno.readFile(files["bomb.bplist"]));
  equal(out.results.format, "binary");
  ok(out.errors[0].startsWith("plist: malformed binary plist"), out.errors[0]);
  ok(out.errors[0].includes("more than 20000 objects visited"), out.errors[0]);
  // A list that contains itself.
  const self = new Uint8Array([
    ...new TextEncoder().encode("bplist00"),
    0xa1,
    0x00, // array of one reference: object 0 (itself)
    0x08, // offset table: object 0 at offset 8
    0,
    0,
    0,
    0,
    0,
    0,
    1,
    1, // trailer: offset size 1, ref size 1
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    1, // one object
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0, // top object 0
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    10, // offset table at 10
  ]);
  const selfOut = await scan(self);
  ok(selfOut.errors[0].includes("object 0 contains itself"), selfOut.errors[0]);
});

Deno.test("plist: truncated and corrupted copies give a named error or a partial value, never a throw", async () => {
  const files = await textFiles();
  for (const name of ["launch.bplist", "launch.plist"] as const) {
    const full = await Deno.readFile(files[name]);
    for (let cut = 8; cut < full.length; cut += Math.max(1, Math.floor(full.length / 23))) {
      const out = await scan(full.subarray(0, cut));
      ok(
        out.errors?.[0]?.startsWith("plist: malformed") || out.results.value !== undefined,
        `${name} cut ${cut}`,
      );
    }
    for (let seed = 1; seed < 40; seed++) {
      const bad = full.slice();
      for (let i = seed; i < bad.length; i += 17 + seed) bad[i] ^= 0xff;
      const out = await scan(bad);
      ok(out.results.format, `${name} seed ${seed}`);
    }
  }
});
