import { deepEqual, equal, ok } from "node:assert/strict";
import batch from "../../plugins/batch.ts";
import { substring } from "../../plugins/lib/script/batch.ts";
import { sh } from "../helpers.ts";
import { scriptFiles } from "../fixtures/script_files.ts";
import { child, damagedCopies, findingIds, scanWith } from "./script_helpers.ts";

Deno.test("batch: dropper.bat — set fragments, substrings and carets give the PowerShell command", async () => {
  const { files, manifest } = await scriptFiles();
  const res = await scanWith(batch, await Deno.readFile(files["dropper.bat"]));
  deepEqual(res.errors, []);
  const r = res.results;
  const clear = child(res, "deobfuscated.bat").text;
  ok(clear.split("\n").includes(manifest.bat_command), clear);
  deepEqual(r.powershell_commands, [manifest.bat_command]);
  equal(child(res, "powershell_1.ps1").text, manifest.bat_command);
  deepEqual(r.variables.values, ["k", "p1", "p2", "p3", "enc"]);
  deepEqual(r.deobfuscation, { expansions: 6, substrings: 2, replacements: 0, carets: 4 });
  deepEqual(r.commands, { echo: 1, set: 5, powershell: 1, vssadmin: 1, exit: 1 });
  deepEqual(findingIds(res), ["execution_policy_bypass", "hidden_window", "inhibit_recovery"]);
  // The -enc argument decodes (base64 -d | iconv) to the script the builder encoded.
  const b64 = manifest.bat_command.split(" ").at(-1)!;
  const decoded = await sh("bash", [
    "-c",
    `printf %s '${b64}' | base64 -d | iconv -f UTF-16LE -t UTF-8`,
  ]);
  equal(decoded, manifest.bat_script);
});

Deno.test("batch: %v:~start,length% as set /? documents it, %v:x=y%, !v! and literal %%", async () => {
  // The examples of cmd's own help (set /?) for %PATH:~10,5%-style substrings.
  equal(substring("abcdefghij", 10), "");
  equal(substring("abcdefghij", 2, 3), "cde");
  equal(substring("abcdefghij", -3), "hij");
  equal(substring("abcdefghij", 0, -2), "abcdefgh");
  equal(substring("abcdefghij", -3, 2), "hi");
  equal(substring("abcdefghij", 5, -7), "");
  const res = await scanWith(
    batch,
    "set a=Hello World\r\necho %a:World=There% %a:*lo=Jo% %%a %UNSET% %a:~-5%\r\nsetlocal enabledelayedexpansion\r\nset b=x&set c=!b!y\r\necho !c!\r\n",
  );
  const lines = child(res, "deobfuscated.bat").text.split("\n");
  equal(lines[1], "echo Hello There Jo World %%a %UNSET% World");
  equal(lines[3], "set b=x&set c=xy");
  equal(lines[4], "echo xy");
});

Deno.test("batch: damaged copies give results; expansion is bounded by cmd's line length", async () => {
  const { files } = await scriptFiles();
  for (const copy of damagedCopies(await Deno.readFile(files["dropper.bat"]))) {
    const res = await scanWith(batch, copy);
    ok(Array.isArray(res.results.findings));
  }
  // Each line doubles the variable: without the 8191-character cap this would reach 2^40.
  const lines = ["set a=xx"];
  for (let i = 0; i < 40; i++) lines.push("set a=%a%%a%");
  lines.push("echo %a%");
  const res = await scanWith(batch, lines.join("\n"));
  const out = child(res, "deobfuscated.bat").text.split("\n");
  ok(out.every((l) => l.length <= 8191), "lines are capped");
});
