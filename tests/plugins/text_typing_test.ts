/**
 * typing.yar's flavors for the small text formats, on the files tests/fixtures/text_files.ts
 * builds: each gets exactly its flavor, and look-alikes do not.
 */
import { deepEqual } from "node:assert/strict";
import { type TextFileName, textFiles } from "../fixtures/text_files.ts";
import { yarax } from "../../plugins/lib/yara/yarax.ts";

// These files are far below typing_head_bytes: both typing files scan all of them.
const rules = (name: string) =>
  Deno.readTextFile(new URL(`../../config/rules/${name}`, import.meta.url));
const typing = yarax().compile(`${await rules("typing_head.yar")}\n${await rules("typing.yar")}`);
const flavors = (d: Uint8Array | string) =>
  typing.scan(typeof d === "string" ? new TextEncoder().encode(d) : d).map((m) => m.ruleIdentifier)
    .sort();

const WANT: Partial<Record<TextFileName, string[]>> = {
  "lure.url": ["url_shortcut_file"],
  "query.iqy": ["iqy_file"],
  "app.jnlp": ["jnlp_file"],
  "launch.plist": ["plist_file"],
  "launch.bplist": ["plist_file"],
  "bomb.bplist": ["plist_file"],
  "external.xml": [],
  "xxe.xml": [],
  "keyword.txt": [],
  "keyword.html": ["html_file"],
  "keyword.pdf": ["pdf_file"],
  "quish.png": ["png_file"],
  "two_codes.gif": ["gif_file"],
};

Deno.test("typing.yar: the small text formats get exactly their flavors", async () => {
  const files = await textFiles();
  for (const [name, want] of Object.entries(WANT)) {
    deepEqual(flavors(await Deno.readFile(files[name as TextFileName])), want, name);
  }
  // A .url written by a browser ([DEFAULT] first) and one with a UTF-8 BOM.
  deepEqual(
    flavors(
      "[DEFAULT]\r\nBASEURL=https://a.example/\r\n[InternetShortcut]\r\nURL=https://a.example/\r\n",
    ),
    ["url_shortcut_file"],
  );
  deepEqual(flavors("\uFEFF[InternetShortcut]\nURL=https://a.example/\n"), ["url_shortcut_file"]);
  // Look-alikes: an INI without the section, prose starting with "Web", a page mentioning jnlp.
  deepEqual(flavors("[Settings]\nURL=https://a.example/\n"), []);
  deepEqual(flavors("Website notes\nnothing here\n"), []);
  deepEqual(flavors("Web\nhttps://a.example/\n"), ["iqy_file"]);
  deepEqual(flavors("# Notes\nThe <jnlp> element is described below.\n"), []);
  deepEqual(flavors("bplist00"), ["plist_file"]);
});
