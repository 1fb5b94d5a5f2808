/**
 * Classifies link targets found in documents and shortcuts (an OOXML relationship's Target, a
 * .url file's URL or IconFile, a JNLP codebase, an IQY query) by what opening them does, and
 * turns the dangerous ones into findings: UNC paths and remote file:// URLs (Windows sends the
 * user's NTLM hash to the host), protocol handlers that run code (ms-msdt, search-ms...), and
 * executables fetched over the web.
 */
import type { Finding } from "../../../core/engine/plugin.ts";

/** What a target is. */
export type TargetKind =
  | "unc" // \\host\share\...: SMB (or WebDAV) to a remote host
  | "remote_file_url" // file://host/share/...: the same as UNC
  | "local_file_url" // file:///C:/...
  | "local_path" // C:\... or /...
  | "protocol_handler" // ms-msdt:, search-ms:, mhtml:, javascript:...
  | "url" // http(s), ftp
  | "other_scheme"
  | "relative";

export interface TargetClass {
  kind: TargetKind;
  /** The URI scheme, lower case, when there is one. */
  scheme?: string;
  /** The remote host for UNC, file and web URLs. */
  host?: string;
}

/**
 * URI schemes whose handlers run programs or scripts on Windows or in Office: each has been used
 * to run code from a document or a shortcut (Follina's ms-msdt, search-ms lures, ms-officecmd,
 * ms-appinstaller, mhtml/mk/ms-its for CHM and MHT content, script URLs).
 */
const CODE_SCHEMES = new Set([
  "ms-msdt",
  "search-ms",
  "search",
  "ms-search",
  "ms-officecmd",
  "ms-appinstaller",
  "ms-cxh",
  "ms-cxh-full",
  "ms-excel",
  "ms-word",
  "ms-powerpoint",
  "ms-access",
  "ms-visio",
  "ms-project",
  "ms-publisher",
  "ms-infopath",
  "ms-spd",
  "mhtml",
  "mk",
  "ms-its",
  "its",
  "hcp",
  "javascript",
  "vbscript",
  "jar",
]);

/** File name endings that run code when opened on Windows (or as Java/Office payloads). */
const EXECUTABLE_EXT =
  /\.(exe|scr|com|pif|cpl|dll|msi|msix|appx|appinstaller|hta|js|jse|vbs|vbe|wsf|wsh|ps1|psm1|bat|cmd|lnk|url|iso|img|vhd|vhdx|jar|jnlp|reg|chm|library-ms|searchconnector-ms|application|xll|iqy|slk)$/i;

/** Classifies one target string. */
export function classifyTarget(raw: string): TargetClass {
  const value = raw.trim().replace(/^["']|["']$/g, "");
  // \\?\ and \\.\ are local device paths, unless they are \\?\UNC\host\share. A leading
  // "//" is not taken for UNC: in web content it is a scheme-relative URL.
  const unc = /^(?:\\\\\?\\UNC\\|\\\\(?![?.]\\))([^\\/]+)[\\/]/i.exec(value);
  if (unc) return { kind: "unc", host: unc[1] };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]{1,40}):/.exec(value)?.[1].toLowerCase();
  if (scheme === undefined || scheme.length === 1) {
    // "C:" is a drive letter, not a scheme.
    if (/^[A-Za-z]:[\\/]|^\//.test(value)) return { kind: "local_path" };
    return { kind: "relative" };
  }
  if (scheme === "file") {
    // file://host/share, file:////host/share and file:\\host\share are SMB to host;
    // file:///C:/x (three slashes: an empty host) is local.
    const m = /^file:([\\/]*)([^\\/]*)/i.exec(value);
    const slashes = m?.[1].length ?? 0;
    const host = slashes === 2 || slashes >= 4 ? m?.[2] ?? "" : "";
    if (host && host.toLowerCase() !== "localhost" && !/^[A-Za-z][:|]$/.test(host)) {
      return { kind: "remote_file_url", scheme, host };
    }
    return { kind: "local_file_url", scheme };
  }
  if (CODE_SCHEMES.has(scheme)) return { kind: "protocol_handler", scheme };
  if (/^(https?|ftps?)$/.test(scheme)) {
    const host = /^[a-z]+:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/i.exec(value)?.[1];
    return { kind: "url", scheme, host: host || undefined };
  }
  return { kind: "other_scheme", scheme };
}

/** Whether `target` (a URL or path) names a file that runs code when opened. */
export function looksExecutable(target: string): boolean {
  // Only the path counts: "https://example.com/" names a host ending in .com, not a file.
  const url = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(\/[^?#]*)?/.exec(target);
  const path = url ? url[1] ?? "" : target.replace(/[?#].*$/, "");
  return EXECUTABLE_EXT.test(path);
}

/** A target and where it was found, for {@link targetFindings}. */
export interface LocatedTarget {
  target: string;
  where: string;
}

const SHOWN = 5;

/**
 * One finding per kind of dangerous target (UNC and remote file URLs, code-running protocol
 * handlers, executables over the web, local file URLs), naming up to five of them.
 */
export function targetFindings(targets: readonly LocatedTarget[]): Finding[] {
  const groups = new Map<string, string[]>();
  const add = (id: string, t: LocatedTarget) => {
    const list = groups.get(id) ?? [];
    list.push(`${t.where}: ${t.target}`);
    groups.set(id, list);
  };
  for (const t of targets) {
    const c = classifyTarget(t.target);
    if (c.kind === "unc" || c.kind === "remote_file_url") add("unc_path", t);
    else if (c.kind === "protocol_handler") add("protocol_handler", t);
    else if (c.kind === "local_file_url" || c.kind === "local_path") {
      add(looksExecutable(t.target) ? "local_executable" : "local_file", t);
    } else if (c.kind === "url" && looksExecutable(t.target)) add("executable_url", t);
  }
  const out: Finding[] = [];
  const detail = (list: string[]) =>
    list.slice(0, SHOWN).join("; ") +
    (list.length > SHOWN ? `; and ${list.length - SHOWN} more` : "");
  for (const [id, list] of groups) {
    const spec = TARGET_FINDINGS[id];
    out.push({
      id,
      severity: spec.severity,
      title: spec.title,
      detail: detail(list),
      ...(spec.mitre ? { mitre: spec.mitre } : {}),
    });
  }
  return out;
}

const TARGET_FINDINGS: Record<string, Pick<Finding, "severity" | "title" | "mitre">> = {
  unc_path: {
    severity: "high",
    title: "UNC path or remote file:// target: opening it sends the user's NTLM hash to that host",
    mitre: ["T1187"],
  },
  protocol_handler: {
    severity: "high",
    title:
      "target uses a protocol handler that can run code (ms-msdt, search-ms, mhtml, script...)",
    mitre: ["T1203", "T1204.002"],
  },
  executable_url: {
    severity: "medium",
    title: "target downloads a file type that runs code",
    mitre: ["T1204.002"],
  },
  local_executable: {
    severity: "medium",
    title: "target runs a local program",
    mitre: ["T1204.002"],
  },
  local_file: { severity: "low", title: "target is a local file" },
};
