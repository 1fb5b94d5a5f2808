import { deepEqual, equal, ok } from "node:assert/strict";
import vbscript from "../../plugins/vbscript.ts";
import { sh } from "../helpers.ts";
import { scriptFiles } from "../fixtures/script_files.ts";
import { child, damagedCopies, findingIds, scanWith } from "./script_helpers.ts";

/** Python evaluates each Chr(N) / Chr(a+b) of the fixture on its own: the reference decoding. */
const PY_CHR = String.raw`
import json, re, sys
src = open(sys.argv[1]).read()
print(json.dumps([chr(eval(m)) for m in re.findall(r'\bChrW?\(([0-9+\-* ]+)\)', src)]))
`;

Deno.test("vbscript: dropper.vbs — Chr() chains decoded as Python evaluates them, findings", async () => {
  const { files, manifest } = await scriptFiles();
  const chars: string[] = JSON.parse(await sh("python3", ["-c", PY_CHR, files["dropper.vbs"]]));
  equal(chars.join(""), "http://.");
  const res = await scanWith(vbscript, await Deno.readFile(files["dropper.vbs"]));
  deepEqual(res.errors, []);
  const r = res.results;
  equal(r.chr_calls, chars.length);
  deepEqual(r.decoded_strings.values, [manifest.vbs_url, "WScript.Shell"]);
  deepEqual(r.urls, [manifest.vbs_url]);
  const clear = child(res, "deobfuscated.vbs").text;
  ok(clear.includes(`u = "${manifest.vbs_url}"\n`), clear);
  ok(clear.includes('CreateObject("WScript.Shell")'), clear);
  deepEqual(r.keywords, {
    CreateObject: 3,
    "WScript.Shell": 1,
    "ADODB.Stream": 1,
    XMLHTTP: 1,
    Run: 1,
    SaveToFile: 1,
    Chr: 8,
  });
  deepEqual(findingIds(res), ["download_execute", "hidden_window", "shell_execution"]);
});

Deno.test("vbscript: constant folding of ChrW, &H, arithmetic, StrReverse and Replace; PowerShell command lines", async () => {
  const src =
    `x = ChrW(&H70) & Chr(&O157) & Chr(200 \\ 2 + 19) & StrReverse("llehsre") & Replace("  -enXXc ", "XX", "")
y = Chr(-1) & "kept"
z = Chr(10 Mod 0)
Set sh = CreateObject("WScript.Shell") : sh.Run "powershell -nop -c Get-Date", 0`;
  const res = await scanWith(vbscript, src);
  deepEqual(res.results.decoded_strings.values, ["powershell  -enc "]);
  const clear = child(res, "deobfuscated.vbs").text;
  ok(clear.startsWith('x = "powershell  -enc "\ny = Chr(-1) & "kept"\nz = Chr(10 Mod 0)'), clear);
  deepEqual(res.results.powershell_commands, ["powershell  -enc", "powershell -nop -c Get-Date"]);
  equal(child(res, "powershell_2.ps1").text, "powershell -nop -c Get-Date");
});

Deno.test("vbscript: damaged copies and unterminated strings give results; many Chr calls stay bounded", async () => {
  const { files } = await scriptFiles();
  for (const copy of damagedCopies(await Deno.readFile(files["dropper.vbs"]))) {
    const res = await scanWith(vbscript, copy);
    ok(Array.isArray(res.results.findings));
  }
  const open = await scanWith(vbscript, 'x = "never closed\ny = 1 _\n + 2');
  equal(open.results.strings.values[0], "never closed");
  const many = "x = " + Array.from({ length: 20_000 }, () => "Chr(65)").join(" & ");
  const res = await scanWith(vbscript, many);
  equal(res.results.chr_calls, 20_000);
  equal(child(res, "deobfuscated.vbs").text, `x = "${"A".repeat(20_000)}"`);
  deepEqual(findingIds(res), ["obfuscated"]);
});
