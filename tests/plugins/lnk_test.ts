/**
 * lnk on shortcuts built from [MS-SHLLINK] (tests/fixtures/lnk_files.ts), checked value by value
 * against Debian's lnkinfo (liblnk-utils) and exiftool. lnkinfo 20181227 prints the header's
 * FileSize where its "Show Window" and "Hot Key" lines are, so those two come from exiftool.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import type { WorkerResponse } from "../../core/engine/plugin.ts";
import lnk from "../../plugins/lnk.ts";
import { parseLnk } from "../../plugins/lib/lnk/parse.ts";
import { instantiate, makePayload, makeRequest, sh } from "../helpers.ts";
import { corruptedCopies } from "../fixtures/cache.ts";
import { lnkFiles, RICH } from "../fixtures/lnk_files.ts";
import { LNK_SCRIPT, realFiles } from "../realfiles.ts";

// deno-lint-ignore no-explicit-any
type Info = Record<string, any> & { findings: { id: string }[] };

async function scan(content: Uint8Array, filename = "x.lnk") {
  const { instance, call } = await instantiate(lnk);
  const p = makePayload(content, { extra_data: { filename } });
  return await instance.scan!(p, makeRequest(p), call) as WorkerResponse;
}

/** lnkinfo's "Name : value" lines, in order (a name may repeat across shell items). */
async function lnkinfo(path: string): Promise<[string, string][]> {
  const out = await sh("lnkinfo", [path]);
  return [...out.matchAll(/^\t+([^:\t\n][^:\n]*?)[ \t]*:[ \t]?(.*)$/gm)].map((
    m,
  ) => [m[1].trim(), m[2]]);
}
const first = (lines: [string, string][], key: string) => lines.find(([k]) => k === key)?.[1];
const all = (lines: [string, string][], key: string) =>
  lines.filter(([k]) => k === key).map(([, v]) => v);

const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";

/** lnkinfo's "Jan 02, 2023 03:04:05.000000000 UTC" as ISO 8601. */
function lnkinfoTime(s: string | undefined): string {
  const m = /^(\w{3}) (\d\d), (\d{4}) (\d\d:\d\d:\d\d)\.(\d{3})\d* UTC$/.exec(s ?? "");
  if (!m) throw new Error(`unexpected lnkinfo time ${s}`);
  const month = String(MONTHS.indexOf(m[1]) / 3 + 1).padStart(2, "0");
  return `${m[3]}-${month}-${m[2]}T${m[4]}.${m[5]}Z`;
}

async function exif(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await sh("exiftool", ["-j", "-n", path]))[0];
}

Deno.test("lnk: rich.lnk, field by field against lnkinfo and exiftool", async () => {
  const files = await lnkFiles();
  const res = await scan(await Deno.readFile(files["rich.lnk"]), "rich.lnk");
  deepEqual(res.errors, []);
  const r = res.results as Info;
  const li = await lnkinfo(files["rich.lnk"]);
  equal(r.creation_time, lnkinfoTime(first(li, "Creation time")));
  equal(r.write_time, lnkinfoTime(first(li, "Modification time")));
  equal(r.access_time, lnkinfoTime(first(li, "Access time")));
  equal(`${r.file_size} bytes`, first(li, "File size"));
  equal(String(r.icon_index), first(li, "Icon index"));
  equal(first(li, "File attribute flags"), "0x00000021");
  deepEqual(r.file_attributes, ["READONLY", "ARCHIVE"]);
  equal(first(li, "Drive type"), "Fixed (3)");
  equal(r.link_info.drive_type, "DRIVE_FIXED");
  equal(
    r.link_info.drive_serial_number.replace("-", "").toLowerCase(),
    first(li, "Drive serial number")!.slice(2),
  );
  equal(r.link_info.volume_label, first(li, "Volume label"));
  equal(r.link_info.local_base_path, first(li, "Local path"));
  equal(r.target_path, first(li, "Local path"));
  equal(r.name, first(li, "Description"));
  equal(r.relative_path, first(li, "Relative path"));
  equal(r.working_directory, first(li, "Working directory"));
  equal(r.arguments, first(li, "Command line arguments"));
  equal(r.icon_location, first(li, "Icon location"));
  equal(r.environment_target, first(li, "Environment variables location"));
  equal(r.tracker.machine_id, first(li, "Machine identifier"));
  equal(r.tracker.droid.volume_id.toLowerCase(), first(li, "Droid volume identifier"));
  equal(r.tracker.droid.object_id.toLowerCase(), first(li, "Droid file identifier"));
  equal(r.tracker.birth_droid.volume_id.toLowerCase(), first(li, "Birth droid volume identifier"));
  equal(r.tracker.birth_droid.object_id.toLowerCase(), first(li, "Birth droid file identifier"));
  // The ID list: lnkinfo's shell items.
  const items = r.target_id_list.items as Record<string, string>[];
  equal(String(items.length), first(li, "Number of items"));
  equal(items[0].clsid.toLowerCase(), first(li, "Shell folder identifier"));
  equal(items[0].folder, first(li, "Shell folder name"));
  equal(items[1].volume, first(li, "Volume name"));
  deepEqual(items.slice(2).map((i) => i.short_name), all(li, "Name"));
  deepEqual(items.slice(2).map((i) => i.name), all(li, "Long name"));
  equal(r.target_id_list.path, "C:\\Windows\\System32\\cmd.exe");

  const ex = await exif(files["rich.lnk"]);
  equal(ex.RunWindow, 7);
  equal(r.show_command, "SW_SHOWMINNOACTIVE");
  equal(ex.HotKey, 0x064b); // CTRL (2) + ALT (4) in the high byte, 'K' in the low byte
  equal(r.hotkey, "CTRL+ALT+K");
  equal(ex.TargetFileSize, r.file_size);
  equal(ex.DriveSerialNumber, parseInt(r.link_info.drive_serial_number.replace("-", ""), 16));
  equal(ex.MachineID, r.tracker.machine_id);
  equal(ex.CommandLineArguments, r.arguments);
  const flagBits = (r.link_flags as string[]).length;
  equal(flagBits, (ex.Flags as number).toString(2).split("").filter((b) => b === "1").length);

  // No tool decodes the droid's MAC address and time: they are what the builder put there.
  equal(r.tracker.droid.mac_address, RICH.mac);
  equal(r.tracker.droid.timestamp, RICH.droidTime);
  deepEqual(r.known_folder, {
    id: "1AC14E77-02E7-4E5D-B744-2EB1AE5198B7",
    name: "System",
    offset: 0,
  });
  deepEqual(r.special_folder, { id: 0x25, offset: 0 });
  deepEqual(r.extra_blocks, [
    "EnvironmentVariableDataBlock",
    "TrackerDataBlock",
    "SpecialFolderDataBlock",
    "KnownFolderDataBlock",
  ]);
  deepEqual(r.findings.map((f) => f.id), [
    "lnk_runs_interpreter",
    "lnk_hidden_window",
    "lnk_padded_arguments",
    "lnk_document_icon",
    "lnk_appended_data",
  ]);
  // The appended data is a child, byte for byte.
  equal(res.extracted!.length, 1);
  equal(new TextDecoder().decode(res.extracted![0].content as Uint8Array), RICH.appended);
  deepEqual(res.extracted![0].payload_meta!.extra_data, {
    filename: "rich.lnk.appended",
    offset: r.trailing_offset,
  });
});

Deno.test("lnk: a link to a share with a remote icon, against lnkinfo", async () => {
  const files = await lnkFiles();
  const res = await scan(await Deno.readFile(files["network.lnk"]));
  const r = res.results as Info;
  const li = await lnkinfo(files["network.lnk"]);
  equal(r.target_path, first(li, "Network path"));
  equal(r.icon_location, first(li, "Icon location"));
  equal(r.link_info.network_provider_type, 0x20000);
  deepEqual(r.findings.map((f) => f.id), ["lnk_remote_target", "lnk_remote_icon"]);
  deepEqual(res.extracted, []);
});

Deno.test("lnk: the real-files shortcut (powershell -EncodedCommand), against lnkinfo", async () => {
  const path = (await realFiles())["shortcut.lnk"];
  const r = (await scan(await Deno.readFile(path))).results as Info;
  const li = await lnkinfo(path);
  equal(r.relative_path, first(li, "Relative path"));
  equal(r.arguments, first(li, "Command line arguments"));
  ok((r.arguments as string).includes(btoa(String.fromCharCode(
    ...new Uint8Array(new Uint16Array([...LNK_SCRIPT].map((c) => c.charCodeAt(0))).buffer),
  ))));
  deepEqual(r.findings.map((f) => f.id), ["lnk_runs_interpreter", "lnk_encoded_command"]);
});

Deno.test("lnk: truncated and corrupted links give named errors and what was read, never a throw", async () => {
  const data = await Deno.readFile((await lnkFiles())["rich.lnk"]);
  const end = parseLnk(data).info.trailing_offset!;
  for (let cut = 0x4c; cut < end; cut += 7) {
    const { info, error } = parseLnk(data.subarray(0, cut));
    equal(info.creation_time, "2023-01-02T03:04:05.000Z", `cut at ${cut}`);
    // Only a cut inside the ExtraData blocks' tail can leave a whole link.
    ok(error && /(offset \d+|at 0x[0-9a-f]+)/.test(error), `cut at ${cut}: ${error}`);
  }
  const res = await scan(data.subarray(0, 300));
  equal(res.errors!.length, 1);
  ok(
    /^lnk: malformed shortcut: LinkTargetIDList \(309 bytes at 0x4e\) is past the end of the file \(300 bytes\); the fields before it are reported$/
      .test(String(res.errors![0])),
    String(res.errors![0]),
  );
  // Random corruption after the header: parsing ends with a result, whatever the bytes.
  for (const copy of corruptedCopies(data, { count: 300, from: 0x4c, flips: 8, seed: 1 })) {
    const out = await scan(copy);
    ok(out.results, "a result for every corrupted copy");
  }
  const notLnk = await scan(new TextEncoder().encode("not a shortcut"));
  deepEqual(notLnk.errors, [
    "lnk: not a shell link: no 0x4C header with the ShellLink CLSID at offset 0",
  ]);
});
