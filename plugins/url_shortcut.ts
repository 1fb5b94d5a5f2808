/**
 * Windows Internet shortcuts (.url, an INI file with an [InternetShortcut] section): URL,
 * IconFile, IconIndex, WorkingDirectory, HotKey and the other keys, with findings for targets
 * that leak NTLM hashes (UNC paths, file://host URLs, in URL or IconFile), protocol handlers that
 * run code (search-ms, ms-msdt...) and links to executables.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { classifyTarget, targetFindings } from "./lib/ioc/targets.ts";
import { payloadText } from "./lib/ioc/extract.ts";

/** [InternetShortcut] keys → result keys. */
const KEYS: Record<string, string> = {
  url: "url",
  iconfile: "icon_file",
  iconindex: "icon_index",
  workingdirectory: "working_directory",
  hotkey: "hotkey",
  showcommand: "show_command",
  modified: "modified",
  idlist: "id_list",
};
const MAX_LINES = 10_000;
const MAX_VALUE = 4096;

/** Reads INI text into sections of key/value pairs (keys as written; the first one wins). */
export function parseIni(
  text: string,
): { sections: Record<string, Record<string, string>>; truncated: boolean } {
  const sections: Record<string, Record<string, string>> = {};
  let current: Record<string, string> | undefined;
  const lines = text.split(/\r\n|\r|\n/);
  for (const raw of lines.slice(0, MAX_LINES)) {
    const line = raw.trim();
    if (!line || line.startsWith(";")) continue;
    const section = /^\[([^\]]{1,200})\]$/.exec(line);
    if (section) {
      current = sections[section[1]] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0 || !current) continue;
    const key = line.slice(0, eq).trim();
    if (!(key in current)) current[key] = line.slice(eq + 1).trim().slice(0, MAX_VALUE);
  }
  return { sections, truncated: lines.length > MAX_LINES };
}

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "url_shortcut",
    version: "1.0.0",
    description:
      "Windows Internet shortcuts (.url): URL, IconFile, WorkingDirectory and other keys",
    classes: ["worker"],
    create: () => ({
      scan(payload) {
        const { sections, truncated } = parseIni(
          payloadText(payload.content).replace(/^\uFEFF/, ""),
        );
        const name = Object.keys(sections).find((s) => s.toLowerCase() === "internetshortcut");
        if (!name) {
          return {
            errors: ["url_shortcut: no [InternetShortcut] section: not an Internet shortcut"],
          };
        }
        const results: Record<string, unknown> = {};
        const other: Record<string, string> = {};
        for (const [k, v] of Object.entries(sections[name])) {
          const mapped = KEYS[k.toLowerCase()];
          if (mapped && !(mapped in results)) results[mapped] = v;
          else other[k] = v;
        }
        if (Object.keys(other).length) results.other_keys = other;
        const baseUrl = Object.entries(sections).find(([s]) => s.toLowerCase() === "default")?.[1]
          .BASEURL;
        if (baseUrl) results.base_url = baseUrl;
        results.sections = Object.keys(sections);
        if (truncated) results.truncated = true;
        // A local working folder is ordinary; one on a share is not.
        const wd = typeof results.working_directory === "string" &&
            classifyTarget(results.working_directory).kind === "unc"
          ? results.working_directory
          : undefined;
        const targets = [
          ["URL", results.url],
          ["IconFile", results.icon_file],
          ["WorkingDirectory", wd],
          ["BASEURL", results.base_url],
        ].filter((t): t is [string, string] => typeof t[1] === "string" && t[1] !== "")
          .map(([where, target]) => ({ where, target }));
        results.findings = targetFindings(targets);
        return { results };
      },
    }),
  });
