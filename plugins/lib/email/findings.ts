/**
 * What an analyst flags in a message: sender identity that does not add up, authentication the
 * receiving server said failed, risky attachments, and links that show one site and go to
 * another. Domains are compared by their registrable part (the public suffix list in tldts), so
 * `mail.example.com` and `example.com` agree. Each kind of finding is listed once, its detail
 * naming every instance.
 */
import { getDomain } from "tldts";
import type { Finding, Severity } from "../../../core/engine/plugin.ts";
import type { AuthResult } from "./headers.ts";
import type { Anchor } from "./links.ts";
import type { Mailbox } from "./message.ts";

/** The registrable domain of an address or host name (`a@mail.example.co.uk` → `example.co.uk`). */
export function orgDomain(addressOrHost: string): string | null {
  const host = addressOrHost.slice(addressOrHost.lastIndexOf("@") + 1).trim().toLowerCase()
    .replace(/[>\].]+$/, "");
  if (host === "") return null;
  return getDomain(host, { allowPrivateDomains: false }) ?? host;
}

/** Collects findings, one per id, joining the details of repeated ones. */
export class FindingList {
  #byId = new Map<string, Finding>();

  /** Adds a finding, or adds `detail` to the one with the same id (keeping the higher severity). */
  add(id: string, severity: Severity, title: string, detail: string, mitre?: string[]): void {
    const had = this.#byId.get(id);
    if (!had) {
      this.#byId.set(id, { id, severity, title, detail, ...(mitre ? { mitre } : {}) });
      return;
    }
    if (had.detail.length < 2000) had.detail += `; ${detail}`;
    if (RANK[severity] > RANK[had.severity]) had.severity = severity;
  }

  /** The findings, most severe first. */
  list(): Finding[] {
    return [...this.#byId.values()].sort((a, b) => RANK[b.severity] - RANK[a.severity]);
  }
}

const RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

/** The sender facts the identity checks read. */
export interface SenderFacts {
  from: Mailbox | null;
  reply_to: Mailbox[];
  return_path: string | null;
}

/** From/Reply-To/Return-Path domains that differ, and display names that name another address. */
export function senderFindings(m: SenderFacts, out: FindingList): void {
  const from = m.from?.address ? orgDomain(m.from.address) : null;
  if (from === null) return;
  for (const r of m.reply_to) {
    const d = r.address ? orgDomain(r.address) : null;
    if (d !== null && d !== from) {
      out.add(
        "reply_to_domain_mismatch",
        "medium",
        "Replies go to another domain than the sender's",
        `From ${m.from!.address}, Reply-To ${r.address}`,
        ["T1566", "T1672"],
      );
    }
  }
  if (m.return_path) {
    const d = orgDomain(m.return_path);
    if (d !== null && d !== from) {
      out.add(
        "return_path_domain_mismatch",
        "low",
        "The envelope sender (Return-Path) is in another domain than From",
        `From ${m.from!.address}, Return-Path ${m.return_path}`,
        ["T1672"],
      );
    }
  }
  const name = m.from?.name ?? "";
  const named = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/.exec(name);
  if (named && orgDomain(named[0]) !== from) {
    out.add(
      "display_name_spoofing",
      "high",
      "The sender's display name shows another address than the one it comes from",
      `"${name}" <${m.from!.address}>`,
      ["T1656", "T1672"],
    );
  } else if (!named) {
    const host = /(?:^|[\s(["'])((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24})(?=$|[\s)\]"',:])/.exec(name);
    const d = host ? orgDomain(host[1]) : null;
    if (host && d !== null && d !== from && getDomain(host[1]) !== null) {
      out.add(
        "display_name_spoofing",
        "medium",
        "The sender's display name shows another domain than the one it comes from",
        `"${name}" <${m.from!.address}>`,
        ["T1656", "T1672"],
      );
    }
  }
}

/** SPF, DKIM and DMARC failures as the receiving server stated them. */
export function authFindings(results: AuthResult[], authserv: string, out: FindingList): void {
  for (const r of results) {
    const by = `${r.method}=${r.result} according to ${authserv || "the receiving server"}`;
    const why = r.reason ?? r.comment;
    const detail = why ? `${by} (${why})` : by;
    if (r.method === "dmarc" && r.result === "fail") {
      out.add(
        "dmarc_fail",
        "high",
        "DMARC failed: the From domain did not authorise this mail",
        detail,
        ["T1672"],
      );
    } else if (r.method === "spf" && r.result === "fail") {
      out.add(
        "spf_fail",
        "medium",
        "SPF failed: the sending host may not send for this domain",
        detail,
        ["T1672"],
      );
    } else if (r.method === "spf" && r.result === "softfail") {
      out.add("spf_softfail", "low", "SPF soft-failed", detail, ["T1672"]);
    } else if (r.method === "dkim" && r.result === "fail") {
      out.add("dkim_fail", "medium", "A DKIM signature did not verify", detail, ["T1672"]);
    }
  }
}

// Extensions that run code when opened (Windows), and containers that shed Mark-of-the-Web.
const EXECUTABLE = new Set(
  (
    "exe scr com pif bat cmd cpl msi msp msc dll ocx sys drv ps1 psm1 psd1 vbs vbe js jse wsf wsh " +
    "wsc sct hta jar lnk reg inf scf application gadget appx appxbundle msix msixbundle appref-ms " +
    "url chm xll iqy slk settingcontent-ms library-ms search-ms py pyw apk elf sh"
  ).split(" "),
);
const DISK_IMAGE = new Set(["iso", "img", "vhd", "vhdx", "udf"]);
const MACRO_CAPABLE = new Set(
  (
    "doc dot docm dotm xls xlt xla xlsm xltm xlsb xlam ppt pot pps ppa pptm potm ppsm ppam sldm " +
    "pub mdb accdb accde one onepkg"
  ).split(" "),
);
const HTML_LIKE = new Set(["htm", "html", "shtml", "xhtml", "mht", "mhtml", "svg", "xht"]);
const DOCUMENT_LIKE = new Set(
  (
    "pdf doc docx xls xlsx ppt pptx txt rtf jpg jpeg png gif bmp tif tiff zip rar 7z csv odt " +
    "htm html mp3 mp4 wav"
  ).split(" "),
);

/** The facts about one attachment the attachment checks read. */
export interface AttachmentFacts {
  filename: string | null;
  content: Uint8Array;
}

/** Executable, macro-capable, disguised, double-extension and other risky attachments. */
export function attachmentFindings(parts: AttachmentFacts[], out: FindingList): void {
  for (const p of parts) {
    const name = p.filename ?? "";
    const shown = JSON.stringify(name);
    const ext = extension(name);
    const bytes = p.content;
    const isPe = bytes.length > 0x40 && bytes[0] === 0x4d && bytes[1] === 0x5a;
    const isOle = bytes.length > 8 && bytes[0] === 0xd0 && bytes[1] === 0xcf && bytes[2] === 0x11 &&
      bytes[3] === 0xe0;
    if (name.includes("\u202e")) {
      out.add(
        "rtlo_filename",
        "high",
        "An attachment name hides its real extension with a right-to-left override",
        shown,
        ["T1036.002"],
      );
    }
    const doubled = /\.([a-z0-9]{2,5})(?:\s|_|\.){0,40}\.([a-z0-9-]{2,20})$/i.exec(name);
    if (
      doubled && DOCUMENT_LIKE.has(doubled[1].toLowerCase()) &&
      (EXECUTABLE.has(ext) || DISK_IMAGE.has(ext) || HTML_LIKE.has(ext))
    ) {
      out.add(
        "double_extension",
        "high",
        "An attachment name shows a document extension before its real one",
        shown,
        ["T1036.007"],
      );
    } else if (/\s{5,}\.[a-z0-9]+$/i.test(name)) {
      out.add(
        "double_extension",
        "high",
        "An attachment name pads its extension out of view with spaces",
        shown,
        ["T1036.007"],
      );
    }
    if (EXECUTABLE.has(ext) || isPe) {
      out.add(
        "executable_attachment",
        "high",
        "An attachment is a program or script that runs when opened",
        isPe && !EXECUTABLE.has(ext) ? `${shown} (a Windows executable by its content)` : shown,
        ["T1566.001", "T1204.002"],
      );
    }
    if (DISK_IMAGE.has(ext)) {
      out.add(
        "disk_image_attachment",
        "high",
        "A disk image is attached (its contents escape Mark-of-the-Web)",
        shown,
        ["T1566.001", "T1553.005"],
      );
    }
    if (MACRO_CAPABLE.has(ext) || (isOle && !EXECUTABLE.has(ext))) {
      out.add(
        "macro_capable_attachment",
        "medium",
        "An Office document that can carry macros is attached",
        shown,
        ["T1566.001", "T1204.002"],
      );
    }
    if (HTML_LIKE.has(ext)) {
      out.add(
        "html_attachment",
        "medium",
        "An HTML file is attached (used for credential phishing and HTML smuggling)",
        shown,
        ["T1566.001", "T1027.006"],
      );
    }
    if (isEncryptedZip(bytes)) {
      out.add(
        "encrypted_archive_attachment",
        "medium",
        "A password-protected ZIP is attached (its contents are hidden from scanners)",
        shown,
        ["T1566.001", "T1027"],
      );
    }
  }
}

/** Links whose visible text names another site than the one they open; IP and file links. */
export function linkFindings(list: Anchor[], links: string[], out: FindingList): void {
  for (const a of list) {
    const href = a.href;
    if (/^(?:file:|\\\\)/i.test(href)) {
      out.add(
        "unc_path_link",
        "high",
        "A link opens a network share (it can leak the reader's Windows credentials)",
        href.slice(0, 300),
        ["T1187"],
      );
      continue;
    }
    const target = hostOf(href);
    const shown = /^(?:[a-z][a-z0-9+.-]*:\/\/)?((?:[a-z0-9-]+\.)+[a-z]{2,24})(?:[/:?#\s]|$)/i.exec(
      a.text,
    );
    if (target === null || shown === null) continue;
    const [want, got] = [orgDomain(shown[1]), orgDomain(target)];
    if (want !== null && got !== null && want !== got && getDomain(shown[1]) !== null) {
      out.add(
        "link_text_domain_mismatch",
        "medium",
        "A link shows one site and opens another",
        `shows ${JSON.stringify(a.text.slice(0, 120))}, opens ${href.slice(0, 300)}`,
        ["T1566.002"],
      );
    }
  }
  for (const url of links) {
    const host = hostOf(url);
    if (host !== null && (/^\d+\.\d+\.\d+\.\d+$/.test(host) || host.startsWith("["))) {
      out.add(
        "ip_address_link",
        "medium",
        "A link points at a bare IP address",
        url.slice(0, 300),
        [
          "T1566.002",
        ],
      );
    }
  }
}

/** An HTML form in the body (credential phishing pages arrive this way). */
export function htmlFindings(html: string | undefined, out: FindingList): void {
  if (html && /<form[\s>]/i.test(html)) {
    const action = /<form[^>]{0,500}?\saction\s*=\s*["']?([^"'\s>]{1,300})/i.exec(html);
    out.add(
      "html_form",
      "medium",
      "The HTML body holds a form that submits what the reader types",
      action ? `action ${action[1]}` : "form without an action",
      ["T1566.002"],
    );
  }
}

/** Lower-case extension of a file name (after the last dot), or "". */
export function extension(name: string): string {
  // Windows drops trailing dots and spaces; a NUL ends the name for C code that reads it.
  const base = name.split(String.fromCharCode(0))[0].replace(/[\s.]+$/, "");
  const dot = base.lastIndexOf(".");
  return dot < 0 ? "" : base.slice(dot + 1).toLowerCase();
}

function hostOf(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" || u.protocol === "ftp:"
      ? u.hostname.toLowerCase()
      : null;
  } catch {
    return null;
  }
}

/** A ZIP whose first local file header has the encryption flag (APPNOTE 4.4.4, bit 0). */
function isEncryptedZip(b: Uint8Array): boolean {
  return b.length >= 30 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04 &&
    (b[6] & 1) === 1;
}
