/**
 * HTML analysis (Strelka's ScanHtml, and what phishing pages and HTML smuggling need) on
 * htmlparser2's event parser: the same forgiving tokenizer browsers-minded tools use, with no DOM
 * built, so memory stays proportional to what is kept. Reports title, links with their tag,
 * forms and their inputs, frames, meta refresh, scripts, data: URIs and an HTA's application
 * tag; inline scripts, event-handler code, data: payloads and the visible text become children.
 */
import { Parser } from "htmlparser2";
import { getDomain } from "tldts";
import type { Finding } from "../../../core/engine/plugin.ts";
import { decodeBase64 } from "../text/base64.ts";
import {
  CappedList,
  Children,
  clip,
  finding,
  type Limits,
  looksObfuscated,
  obfuscationSignals,
  type ScriptChild,
} from "../script/common.ts";

/** Attributes that hold a URL, on any tag. */
const URL_ATTRS = new Set([
  "href",
  "src",
  "action",
  "formaction",
  "data",
  "poster",
  "background",
  "codebase",
  "cite",
  "longdesc",
  "manifest",
  "ping",
  "xlink:href",
]);
/** Elements whose text is not shown. */
const INVISIBLE = new Set(["script", "style", "template", "noembed", "noframes"]);
/** Elements that start a new line of visible text. */
const BLOCK = new Set([
  "address",
  "article",
  "aside",
  "blockquote",
  "br",
  "dd",
  "div",
  "dl",
  "dt",
  "fieldset",
  "figcaption",
  "figure",
  "footer",
  "form",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "header",
  "hr",
  "li",
  "main",
  "nav",
  "ol",
  "p",
  "pre",
  "section",
  "table",
  "td",
  "th",
  "tr",
  "ul",
  "title",
  "option",
  "button",
  "label",
]);

interface Link {
  tag: string;
  attribute: string;
  url: string;
}
interface Input {
  tag: string;
  type: string;
  name: string | null;
  value?: string;
}
interface Form {
  action: string | null;
  method: string;
  inputs: Input[];
  has_password: boolean;
  inputs_truncated?: boolean;
}
interface Frame {
  tag: string;
  src: string | null;
  width: string | null;
  height: string | null;
  hidden: boolean;
}
interface Script {
  index: number;
  inline: boolean;
  src?: string;
  type?: string;
  language?: string;
  size: number;
  /** Why the script looks obfuscated, when it does. */
  obfuscation?: string[];
}
interface DataUri {
  tag: string;
  attribute: string;
  mime: string;
  encoding: "base64" | "percent";
  size: number;
  download?: string;
}

/** What `analyzeHtml` returns. */
export interface HtmlAnalysis {
  results: Record<string, unknown>;
  children: ScriptChild[];
  errors: string[];
}

/** Analyses the HTML document `text` within `limits`. */
export function analyzeHtml(text: string, limits: Limits): HtmlAnalysis {
  const links = new CappedList<Link>(limits.maxList);
  const forms = new CappedList<Form>(limits.maxList);
  const frames = new CappedList<Frame>(limits.maxList);
  const scripts = new CappedList<Script>(limits.maxList);
  const dataUris = new CappedList<DataUri>(limits.maxList);
  const refreshes = new CappedList<{ delay: number | null; url: string | null }>(limits.maxList);
  const handlers = new Map<string, number>();
  const handlerCode: string[] = [];
  const children = new Children(limits);
  const scriptChildren: ScriptChild[] = [];
  const siteHints: string[] = [];
  let hta: Record<string, string> | null = null;
  let title: string | null = null;
  let titleText: string | null = null;
  let tags = 0, comments = 0, inputsOutside = 0;
  let form: Form | null = null;
  let script: { attrs: Record<string, string>; text: string } | null = null;
  let invisible = 0;
  let visible = "";
  let visibleFull = false;
  const smuggling: string[] = [];

  const addVisible = (s: string) => {
    if (visibleFull) return;
    if (visible.length + s.length > limits.maxChars) {
      visible += s.slice(0, limits.maxChars - visible.length);
      visibleFull = true;
    } else visible += s;
  };

  const parser = new Parser({
    onopentag(name, attrs) {
      tags++;
      if (INVISIBLE.has(name)) invisible++;
      if (BLOCK.has(name)) addVisible("\n");
      for (const [attr, raw] of Object.entries(attrs)) {
        const value = raw.trim();
        if (attr.startsWith("on") && attr.length > 2) {
          handlers.set(attr, (handlers.get(attr) ?? 0) + 1);
          if (value) handlerCode.push(value);
          continue;
        }
        if (!URL_ATTRS.has(attr) && !(attr === "srcset" && value.startsWith("data:"))) continue;
        if (value === "") continue;
        if (/^data:/i.test(value)) {
          const uri = dataUri(value);
          if (uri) {
            const entry: DataUri = {
              tag: name,
              attribute: attr,
              mime: uri.mime,
              encoding: uri.encoding,
              size: uri.bytes.length,
            };
            if (attrs.download !== undefined) entry.download = attrs.download;
            if (dataUris.push(entry)) {
              const n = dataUris.items.length;
              const fallback = `data_${n}.${extensionOf(uri.mime)}`;
              children.add(uri.bytes, {
                filename: safeName(attrs.download) ?? fallback,
                source: "data uri",
                tag: name,
                attribute: attr,
                mime: uri.mime,
              });
            }
            if (name === "a" && attrs.download !== undefined) {
              smuggling.push(
                `<a download="${clip(attrs.download, 80)}"> with a ${uri.mime} data: URL`,
              );
            }
          }
          links.push({ tag: name, attribute: attr, url: clip(value, 100) });
          continue;
        }
        if (/^javascript:/i.test(value)) handlerCode.push(value.slice(11));
        if (/^blob:/i.test(value) && name === "a" && attrs.download !== undefined) {
          smuggling.push(`<a download> with a blob: URL`);
        }
        links.push({ tag: name, attribute: attr, url: clip(value, 2000) });
      }
      switch (name) {
        case "title":
          if (title === null) titleText = "";
          break;
        case "base":
          if (attrs.href) siteHints.push(attrs.href);
          break;
        case "link":
          if (/\bcanonical\b/i.test(attrs.rel ?? "") && attrs.href) siteHints.push(attrs.href);
          break;
        case "meta": {
          if ((attrs.property ?? attrs.name ?? "").toLowerCase() === "og:url" && attrs.content) {
            siteHints.push(attrs.content);
          }
          if ((attrs["http-equiv"] ?? "").toLowerCase() === "refresh") {
            refreshes.push(parseRefresh(attrs.content ?? ""));
          }
          break;
        }
        case "form":
          form = {
            action: attrs.action ?? null,
            method: (attrs.method ?? "get").toUpperCase(),
            inputs: [],
            has_password: false,
          };
          forms.push(form);
          break;
        case "input":
        case "select":
        case "textarea":
        case "button": {
          const type = (attrs.type ?? (name === "input" ? "text" : name)).toLowerCase();
          const input: Input = { tag: name, type, name: attrs.name ?? attrs.id ?? null };
          if (type === "hidden" && attrs.value !== undefined) input.value = clip(attrs.value);
          if (!form) {
            inputsOutside++;
            break;
          }
          if (type === "password") form.has_password = true;
          if (form.inputs.length < limits.maxList) form.inputs.push(input);
          else form.inputs_truncated = true;
          break;
        }
        case "iframe":
        case "frame":
        case "embed":
        case "object":
          frames.push({
            tag: name,
            src: attrs.src ?? attrs.data ?? null,
            width: attrs.width ?? null,
            height: attrs.height ?? null,
            hidden: isHidden(attrs),
          });
          break;
        case "script":
          script = { attrs, text: "" };
          break;
        case "hta:application":
          hta ??= Object.fromEntries(Object.entries(attrs).slice(0, limits.maxList));
          break;
      }
    },
    ontext(chunk) {
      if (script) {
        script.text += chunk;
        return;
      }
      if (titleText !== null) titleText += chunk;
      if (invisible === 0) addVisible(chunk);
    },
    onclosetag(name) {
      if (INVISIBLE.has(name) && invisible > 0) invisible--;
      if (BLOCK.has(name)) addVisible("\n");
      if (name === "form") form = null;
      if (name === "title" && titleText !== null) {
        title = clip(titleText.replace(/\s+/g, " ").trim(), 500);
        titleText = null;
      }
      if (name === "script" && script) {
        closeScript(script);
        script = null;
      }
    },
    oncomment() {
      comments++;
    },
  }, { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true });

  function closeScript(s: { attrs: Record<string, string>; text: string }) {
    const index = scripts.items.length + 1;
    const type = s.attrs.type?.trim().toLowerCase();
    const language = s.attrs.language?.trim().toLowerCase();
    const entry: Script = { index, inline: s.attrs.src === undefined, size: s.text.length };
    if (s.attrs.src !== undefined) entry.src = s.attrs.src;
    if (type) entry.type = type;
    if (language) entry.language = language;
    if (entry.inline && s.text.trim() !== "") {
      const why = looksObfuscated(obfuscationSignals(s.text), s.text.length);
      const decoders = (s.text.match(/\b(?:unescape|atob|fromCharCode|decodeURIComponent)\s*\(/g) ??
        []).length;
      if (decoders > 0 && /\b(?:eval|Function|document\.write(?:ln)?)\s*\(/.test(s.text)) {
        why.push(`runs decoded text (${decoders} decoder calls)`);
      }
      if (why.length > 0) entry.obfuscation = why;
      if (
        /\bmsSaveOrOpenBlob\b|\bmsSaveBlob\b/.test(s.text) ||
        (/\bcreateObjectURL\b/.test(s.text) && /\.download\b|download\s*=/.test(s.text) &&
          (/\batob\s*\(/.test(s.text) || /[A-Za-z0-9+/]{1000}/.test(s.text)))
      ) {
        smuggling.push(`script ${index} builds a Blob and saves it`);
      }
      scriptChildren.push({
        content: new TextEncoder().encode(s.text),
        extra: {
          filename: `script_${index}.${scriptExtension(type, language)}`,
          source: "inline script",
          index,
          ...(type ? { type } : {}),
          ...(language ? { language } : {}),
        },
      });
    }
    scripts.push(entry);
  }

  parser.write(text);
  parser.end();
  // An unterminated <script> at the end of the file still counts.
  if (script) closeScript(script);

  for (const c of scriptChildren) children.add(c.content, c.extra);
  if (handlerCode.length > 0) {
    children.add(handlerCode.join(";\n"), {
      filename: "event_handlers.js",
      source: "event handler attributes and javascript: URLs",
    });
  }
  const visibleText = visible.replace(/[ \t\r\f\v\u00a0]+/g, " ").replace(/ ?\n[\n ]*/g, "\n")
    .trim();
  if (visibleText !== "") {
    children.add(visibleText + "\n", { filename: "visible_text.txt", source: "visible text" });
  }

  const site = siteDomain(siteHints);
  const findings = judge({ forms, frames, refreshes, scripts, smuggling, hta, site });
  const results: Record<string, unknown> = {
    title,
    counts: {
      tags,
      comments,
      links: links.items.length,
      forms: forms.items.length,
      inputs_outside_forms: inputsOutside,
      frames: frames.items.length,
      scripts: scripts.items.length,
      data_uris: dataUris.items.length,
    },
    site: site ?? null,
    links: links.items,
    forms: forms.items,
    frames: frames.items,
    meta_refresh: refreshes.items,
    scripts: scripts.items,
    data_uris: dataUris.items,
    event_handlers: Object.fromEntries(handlers),
    hta_application: hta,
    findings,
  };
  const cut = Object.entries({ links, forms, frames, scripts, data_uris: dataUris }).filter((
    [, l],
  ) => l.truncated).map(([k]) => k);
  if (cut.length > 0) results.truncated_lists = cut;
  const errors: string[] = [];
  const dropped = children.error();
  if (dropped) errors.push(dropped);
  return { results, children: children.list, errors };
}

/** The parts of a `data:` URL, decoded; undefined when it is malformed. */
function dataUri(
  value: string,
): { mime: string; encoding: "base64" | "percent"; bytes: Uint8Array } | undefined {
  const comma = value.indexOf(",");
  if (comma < 0) return undefined;
  const params = value.slice(5, comma).split(";").map((p) => p.trim());
  const base64 = params.some((p) => p.toLowerCase() === "base64");
  const mime = params[0]?.includes("/") ? params[0].toLowerCase() : "text/plain";
  const payload = value.slice(comma + 1);
  if (base64) {
    let b64 = payload;
    try {
      if (b64.includes("%")) b64 = decodeURIComponent(b64);
    } catch { /* keep it as is */ }
    const bytes = decodeBase64(new TextEncoder().encode(b64));
    return typeof bytes === "string" ? undefined : { mime, encoding: "base64", bytes };
  }
  return { mime, encoding: "percent", bytes: percentDecode(payload) };
}

/** Percent-decodes to bytes, keeping malformed escapes as they are. */
function percentDecode(s: string): Uint8Array {
  const raw = new TextEncoder().encode(s);
  const out = new Uint8Array(raw.length);
  let n = 0;
  const hex = (c: number) =>
    c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x25 && i + 2 < raw.length) {
      const h = hex(raw[i + 1]), l = hex(raw[i + 2]);
      if (h >= 0 && l >= 0) {
        out[n++] = h * 16 + l;
        i += 2;
        continue;
      }
    }
    out[n++] = raw[i];
  }
  return out.slice(0, n);
}

const EXTENSIONS: Record<string, string> = {
  "text/html": "html",
  "text/plain": "txt",
  "text/javascript": "js",
  "application/javascript": "js",
  "application/x-javascript": "js",
  "application/zip": "zip",
  "application/x-zip-compressed": "zip",
  "application/pdf": "pdf",
  "application/x-msdownload": "exe",
  "application/octet-stream": "bin",
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/gif": "gif",
  "image/svg+xml": "svg",
};
const extensionOf = (mime: string) => EXTENSIONS[mime] ?? "bin";

/** A download attribute's base name when it is a usable file name. */
function safeName(name: string | undefined): string | undefined {
  const base = name?.split(/[\\/]/).pop()?.trim();
  return base && base !== "." && base !== ".." ? clip(base, 255) : undefined;
}

function scriptExtension(type: string | undefined, language: string | undefined): string {
  const what = `${type ?? ""} ${language ?? ""}`;
  if (/vbs|vbscript/.test(what)) return "vbs";
  if (/json|importmap/.test(what)) return "json";
  if (!type || /javascript|jscript|ecmascript|module|babel|jsx/.test(what)) return "js";
  return "txt";
}

/** An iframe or object that the page cannot show: zero or one pixel, or styled away. */
function isHidden(attrs: Record<string, string>): boolean {
  const tiny = (v: string | undefined) => v !== undefined && /^\s*[01](\.0*)?\s*(px)?\s*$/i.test(v);
  const style = (attrs.style ?? "").toLowerCase().replace(/\s+/g, "");
  return tiny(attrs.width) || tiny(attrs.height) || attrs.hidden !== undefined ||
    /display:none|visibility:hidden|(^|;)(width|height):0(px)?(;|$)/.test(style);
}

/** `<meta http-equiv="refresh" content="5; url=...">`. */
function parseRefresh(content: string): { delay: number | null; url: string | null } {
  const m = /^\s*(\d+(?:\.\d*)?)?\s*[;,]?\s*(?:url\s*=\s*)?(.*)$/i.exec(content);
  const delay = m?.[1] ? Number(m[1]) : null;
  const url = (m?.[2] ?? "").trim().replace(/^(['"])(.*)\1$/, "$2");
  return { delay, url: url === "" ? null : url };
}

/** The registrable domain the page says it belongs to (base href, canonical link, og:url). */
function siteDomain(hints: string[]): string | undefined {
  for (const h of hints) {
    const d = domainOf(h);
    if (d) return d;
  }
  return undefined;
}

/** The registrable domain of an absolute http(s) URL, or undefined. */
function domainOf(url: string): string | undefined {
  const m = /^\s*(?:https?:)?\/\/([^/?#:\s]+)/i.exec(url);
  if (!m) return undefined;
  return getDomain(m[1].toLowerCase()) ?? m[1].toLowerCase();
}

function judge(p: {
  forms: CappedList<Form>;
  frames: CappedList<Frame>;
  refreshes: CappedList<{ delay: number | null; url: string | null }>;
  scripts: CappedList<Script>;
  smuggling: string[];
  hta: Record<string, string> | null;
  site: string | undefined;
}): Finding[] {
  const out: Finding[] = [];
  const where = p.site
    ? `outside the page's own site ${p.site}`
    : "to an absolute URL (the page names no site of its own)";
  const elsewhere = (url: string | null) => {
    const d = url ? domainOf(url) : undefined;
    return d !== undefined && d !== p.site ? d : undefined;
  };
  for (const f of p.forms.items) {
    const scheme = /^\s*(javascript|data|blob):/i.exec(f.action ?? "")?.[1]?.toLowerCase();
    if (scheme) {
      out.push(finding(
        "form_script_action",
        "high",
        `A form submits to a ${scheme}: URL`,
        `form action ${clip(f.action ?? "", 100)}${
          f.has_password ? " (with a password field)" : ""
        }`,
        ["T1056.003"],
      ));
    } else if (f.has_password) {
      const d = elsewhere(f.action);
      if (d) {
        out.push(finding(
          "password_form_external",
          "high",
          "A password form posts to another site",
          `${f.method} ${clip(f.action ?? "", 200)} (${d}), ${where}`,
          ["T1056.003", "T1566"],
        ));
      }
    }
  }
  for (const fr of p.frames.items) {
    if (fr.hidden && fr.src) {
      out.push(finding(
        "hidden_iframe",
        "medium",
        `A hidden ${fr.tag} loads content`,
        `${fr.tag} src ${clip(fr.src, 200)} (width ${fr.width ?? "-"}, height ${fr.height ?? "-"})`,
        ["T1189"],
      ));
    }
  }
  for (const r of p.refreshes.items) {
    const d = elsewhere(r.url);
    if (d) {
      out.push(finding(
        "meta_refresh_external",
        "medium",
        "The page redirects to another site",
        `meta refresh after ${r.delay ?? 0} s to ${clip(r.url ?? "", 200)} (${d}), ${where}`,
      ));
    }
  }
  const obfuscated = p.scripts.items.filter((s) => s.obfuscation);
  if (obfuscated.length > 0) {
    out.push(finding(
      "obfuscated_script",
      "medium",
      "An inline script looks obfuscated",
      obfuscated.map((s) => `script ${s.index}: ${s.obfuscation!.join(", ")}`).join("; "),
      ["T1027"],
    ));
  }
  if (p.smuggling.length > 0) {
    out.push(finding(
      "html_smuggling",
      "high",
      "The page builds a file from embedded data and offers it for download",
      p.smuggling.join("; "),
      ["T1027.006"],
    ));
  }
  if (p.hta) {
    out.push(finding(
      "hta_application",
      "medium",
      "An HTML application (runs with full rights under mshta.exe)",
      `<hta:application ${
        Object.entries(p.hta).map(([k, v]) => `${k}="${clip(v, 40)}"`).join(" ")
      }>`,
      ["T1218.005"],
    ));
  }
  return out;
}
