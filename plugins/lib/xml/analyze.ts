/**
 * What an XML document declares and points at: declaration, DOCTYPE and its entities (never
 * expanded), root element, namespaces, tag names, processing instructions, and every external
 * target: OPC relationships with TargetMode="External" (remote templates, OLE links, frames),
 * XInclude hrefs, stylesheet PIs, and UNC paths, file:// URLs and code-running protocol handlers
 * in attribute values and text (a Word field code's INCLUDEPICTURE "\\host\share" included).
 */
import type { Finding } from "../../../core/engine/plugin.ts";
import { classifyTarget, targetFindings, type TargetKind } from "../ioc/targets.ts";
import { type Doctype, parseDoctype } from "./doctype.ts";
import {
  declarationAttributes,
  findDoctype,
  parseXml,
  type XmlError,
  type XmlTag,
} from "./parser.ts";
import { decodeEntities } from "../ooxml/xml.ts";

/** One external target. */
export interface XmlTarget {
  target: string;
  kind: TargetKind;
  /** relationship, xinclude, stylesheet, attribute or text. */
  source: string;
  element: string;
  attribute?: string;
  /** An OPC relationship's type, short form (attachedTemplate, oleObject, hyperlink...). */
  relationship_type?: string;
  id?: string;
}

export interface XmlLimits {
  maxTags: number;
  maxTargets: number;
  /**
   * Characters read by the XML reader; past them only targets are sought, by a linear scan
   * (relationships with TargetMode="External", UNC paths, file: URLs, protocol handlers).
   */
  maxParse: number;
  signal?: AbortSignal;
}

/** The xml plugin's result. */
export interface XmlReport {
  encoding: string;
  declaration: Record<string, string> | null;
  doctype: Doctype | null;
  root: { name: string; namespace: string } | null;
  namespaces: { prefix: string; uri: string }[];
  elements: number;
  max_depth: number;
  tags: string[];
  tags_truncated?: boolean;
  processing_instructions: { target: string; data: string }[];
  comments: number;
  scripts: number;
  external_targets: XmlTarget[];
  external_targets_truncated?: boolean;
  /** null when only the first part was read (see `parsed_characters`). */
  well_formed: boolean | null;
  parse_errors: XmlError[];
  /** Present when the document is longer than what the reader read. */
  parsed_characters?: number;
  findings: Finding[];
}

const OPC_EXTERNAL = "External";
const XINCLUDE_NS = "http://www.w3.org/2001/XInclude";
// UNC paths (Word field codes double the backslashes), file: URLs and code-running schemes in
// text. Bounded tokens, so linear.
const TEXT_TARGET_RE =
  /\\{2,4}[A-Za-z0-9][A-Za-z0-9._-]{0,252}(?:@SSL)?(?:@\d{1,5})?\\{1,2}[^\s"'<>|*?]{1,1000}|\bfile:[\\/]{2}[^\s"'<>]{1,1000}|\b(?:ms-msdt|search-ms|ms-officecmd|ms-appinstaller|mhtml|ms-its):[^\s"'<>]{1,1000}/gi;
const MAYBE_TEXT_TARGET =
  /file:|ms-msdt:|search-ms:|ms-officecmd:|ms-appinstaller:|mhtml:|ms-its:/i;
// Attribute values are classified only when they could be a target of interest.
const MAYBE_TARGET = /^\s*(?:\\\\|[A-Za-z][A-Za-z0-9+.-]{1,40}:)/;
const WELL_KNOWN_DTD =
  /^https?:\/\/(?:www\.w3\.org\/|www\.apple\.com\/DTDs\/|java\.sun\.com\/dtd\/|docs\.oasis-open\.org\/|www\.oasis-open\.org\/|schemas\.microsoft\.com\/|www\.docbook\.org\/)/i;
const SHOWN_PI = 20;

/** Analyses the decoded XML `text`. */
export async function analyzeXml(
  text: string,
  encoding: string,
  limits: XmlLimits,
): Promise<XmlReport> {
  let declaration: Record<string, string> | null = null;
  let doctype: Doctype | null = null;
  let root: XmlReport["root"] = null;
  const namespaces = new Map<string, { prefix: string; uri: string }>();
  const tags = new Set<string>();
  let tagsTruncated = false;
  let elements = 0;
  let maxDepth = 0;
  let comments = 0;
  let scripts = 0;
  const pis: { target: string; data: string }[] = [];
  const targets: XmlTarget[] = [];
  const seen = new Set<string>();
  let targetsTruncated = false;
  let current = "";

  const values = new Set<string>();
  const addTarget = (t: Omit<XmlTarget, "kind">) => {
    const key = `${t.source}|${t.target}|${t.element}|${t.attribute ?? ""}`;
    // The scan past the reader sees raw text, attribute values included: a value already
    // found as an attribute or relationship is not listed again as text.
    if (seen.has(key) || (t.source === "text" && t.element === "" && values.has(t.target))) return;
    values.add(t.target);
    if (targets.length >= limits.maxTargets) {
      targetsTruncated = true;
      return;
    }
    seen.add(key);
    targets.push({ target: t.target, kind: classifyTarget(t.target).kind, ...stripKind(t) });
  };
  const scanText = (s: string) => {
    if (s.length < 8 || !(s.includes("\\\\") || s.includes(":"))) return;
    for (const m of s.matchAll(TEXT_TARGET_RE)) {
      addTarget({ target: normaliseTextTarget(m[0]), source: "text", element: current });
      if (targetsTruncated) break;
    }
  };

  // The reader reads the head; the cut falls after a tag's end, past the DOCTYPE.
  let cut = text.length;
  if (text.length > limits.maxParse) {
    const doctypeEnd = findDoctype(text.slice(0, limits.maxParse * 4))?.[1] ?? 0;
    const at = text.lastIndexOf(">", Math.max(limits.maxParse, doctypeEnd));
    cut = at > 0 ? at + 1 : limits.maxParse;
  }
  const outcome = await parseXml(cut < text.length ? text.slice(0, cut) : text, {
    pi(target, body) {
      if (target.toLowerCase() === "xml" && declaration === null && elements === 0) {
        declaration = declarationAttributes(body);
        return;
      }
      if (pis.length < SHOWN_PI) pis.push({ target, data: body.slice(0, 500) });
      if (target.toLowerCase() === "xml-stylesheet") {
        const href = declarationAttributes(body).href;
        if (href) addTarget({ target: href, source: "stylesheet", element: "?xml-stylesheet" });
      }
    },
    doctype(body) {
      doctype ??= parseDoctype(body);
    },
    comment() {
      comments++;
    },
    open(tag: XmlTag, depth) {
      elements++;
      if (depth + 1 > maxDepth) maxDepth = depth + 1;
      current = tag.name;
      if (root === null) root = { name: tag.name, namespace: tag.uri ?? "" };
      if (!tags.has(tag.name)) {
        if (tags.size < limits.maxTags) tags.add(tag.name);
        else tagsTruncated = true;
      }
      if (tag.local === "script") scripts++;
      const attrs = tag.attributes;
      for (const a of Object.values(attrs)) {
        if (a.name === "xmlns" || a.prefix === "xmlns") {
          const prefix = a.name === "xmlns" ? "" : a.local;
          const key = `${prefix}\n${a.value}`;
          if (!namespaces.has(key) && namespaces.size < limits.maxTags) {
            namespaces.set(key, { prefix, uri: a.value });
          }
        }
      }
      if (tag.local === "Relationship" && attrs.TargetMode?.value === OPC_EXTERNAL) {
        const type = attrs.Type?.value ?? "";
        addTarget({
          target: attrs.Target?.value ?? "",
          source: "relationship",
          element: tag.name,
          attribute: "Target",
          relationship_type: type.slice(type.lastIndexOf("/") + 1),
          id: attrs.Id?.value,
        });
        return;
      }
      const xinclude = tag.uri === XINCLUDE_NS && tag.local === "include";
      if (xinclude && attrs.href) {
        addTarget({
          target: attrs.href.value,
          source: "xinclude",
          element: tag.name,
          attribute: "href",
        });
      }
      for (const a of Object.values(attrs)) {
        if (xinclude && a.name === "href") continue;
        if (a.prefix === "xmlns" || a.name === "xmlns" || !MAYBE_TARGET.test(a.value)) continue;
        const kind = classifyTarget(a.value).kind;
        if (
          kind === "unc" || kind === "remote_file_url" || kind === "protocol_handler" ||
          kind === "local_file_url"
        ) {
          addTarget({
            target: a.value.trim(),
            source: "attribute",
            element: tag.name,
            attribute: a.name,
          });
        }
      }
    },
    text: scanText,
    cdata: scanText,
  }, { stop: () => limits.signal?.aborted ?? false });
  limits.signal?.throwIfAborted();

  const partial = cut < text.length;
  if (partial) {
    scanRest(text.slice(cut), addTarget, () => targetsTruncated || !!limits.signal?.aborted);
  }
  const report: XmlReport = {
    encoding,
    declaration,
    doctype,
    root,
    namespaces: [...namespaces.values()],
    elements,
    max_depth: maxDepth,
    tags: [...tags],
    processing_instructions: pis,
    comments,
    scripts,
    external_targets: targets,
    well_formed: partial ? null : outcome.errors.length === 0 && root !== null,
    // When the reader stopped early, the elements it left open are not errors.
    parse_errors: partial
      ? outcome.errors.filter((e) => !/is not closed|no root element/.test(e.message))
      : outcome.errors,
    findings: [],
  };
  if (partial) report.parsed_characters = cut;
  if (tagsTruncated) report.tags_truncated = true;
  if (targetsTruncated) report.external_targets_truncated = true;
  report.findings = xmlFindings(report);
  return report;
}

const RELATIONSHIP_TAG = /<(?:[A-Za-z_][\w.-]{0,40}:)?Relationship\s[^<>]{0,4000}>/g;
const ATTRIBUTE = /([A-Za-z_:][\w.:-]{0,100})\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/** Targets in the part of a document the reader did not read: a linear scan, no parsing. */
function scanRest(
  rest: string,
  add: (t: Omit<XmlTarget, "kind">) => void,
  stop: () => boolean,
): void {
  if (rest.includes("TargetMode")) {
    for (const m of rest.matchAll(RELATIONSHIP_TAG)) {
      if (stop()) return;
      const a: Record<string, string> = {};
      for (const x of m[0].matchAll(ATTRIBUTE)) a[x[1]] = decodeEntities(x[2] ?? x[3]);
      if (a.TargetMode !== OPC_EXTERNAL) continue;
      const type = a.Type ?? "";
      add({
        target: a.Target ?? "",
        source: "relationship",
        element: "Relationship",
        attribute: "Target",
        relationship_type: type.slice(type.lastIndexOf("/") + 1),
        id: a.Id,
      });
    }
  }
  // Most of a large part holds none of these; the literal checks cost far less than the pattern.
  if (!rest.includes("\\\\") && !MAYBE_TEXT_TARGET.test(rest)) return;
  for (const m of rest.matchAll(TEXT_TARGET_RE)) {
    if (stop()) return;
    add({ target: normaliseTextTarget(m[0]), source: "text", element: "" });
  }
}

/** Word field codes double every backslash: \\\\host\\share is \\host\share. */
function normaliseTextTarget(raw: string): string {
  return raw.startsWith("\\") ? "\\\\" + raw.replace(/^\\+/, "").replace(/\\\\/g, "\\") : raw;
}

function stripKind(t: Omit<XmlTarget, "kind">): Omit<XmlTarget, "kind" | "target"> {
  const { target: _t, ...rest } = t;
  for (const k of Object.keys(rest) as (keyof typeof rest)[]) {
    if (rest[k] === undefined) delete rest[k];
  }
  return rest;
}

const RELATIONSHIP_FINDINGS: Record<string, Finding & { id: string }> = {
  attachedTemplate: {
    id: "remote_template",
    severity: "high",
    title: "document loads its template from an external location (template injection)",
    detail: "",
    mitre: ["T1221"],
  },
  oleObject: {
    id: "external_ole_object",
    severity: "high",
    title: "document links an OLE object from an external location (CVE-2017-0199, Follina style)",
    detail: "",
    mitre: ["T1203", "T1221"],
  },
  frame: {
    id: "external_frame",
    severity: "high",
    title: "document loads a frame from an external location",
    detail: "",
    mitre: ["T1221"],
  },
  subDocument: {
    id: "external_subdocument",
    severity: "high",
    title: "document includes a sub-document from an external location",
    detail: "",
    mitre: ["T1221"],
  },
};

function xmlFindings(r: XmlReport): Finding[] {
  const out: Finding[] = [];
  const dt = r.doctype as Doctype | null;
  if (dt) {
    const external = dt.entities.filter((e) => e.type === "external" && !e.notation);
    if (external.length) {
      out.push({
        id: "external_entity",
        severity: "high",
        title: "DOCTYPE declares an external entity (XXE)",
        detail: external.slice(0, 5).map((e) =>
          `${e.parameter ? "%" : ""}${e.name} -> ${e.system_id}`
        ).join("; "),
        mitre: ["T1190"],
      });
    }
    if (dt.recursive_entities.length || dt.max_expansion > 1_000_000) {
      out.push({
        id: "entity_expansion",
        severity: "high",
        title: "entity declarations expand exponentially (billion laughs)",
        detail: dt.recursive_entities.length
          ? `recursive entities: ${dt.recursive_entities.slice(0, 5).join(", ")}`
          : `one entity expands to ${dt.max_expansion} characters`,
        mitre: ["T1499.004"],
      });
    }
    if (dt.entity_count > 0 && !out.length) {
      out.push({
        id: "entity_declarations",
        severity: "low",
        title: "DOCTYPE declares entities",
        detail: `${dt.entity_count} declared: ${
          dt.entities.slice(0, 5).map((e) => e.name).join(", ")
        }`,
      });
    }
    if (dt.system_id && !WELL_KNOWN_DTD.test(dt.system_id)) {
      out.push({
        id: "external_dtd",
        severity: "low",
        title: "DOCTYPE names an external DTD that a validating parser would fetch",
        detail: dt.system_id,
      });
    }
  }
  const relFindings = new Map<string, string[]>();
  const otherExternal: string[] = [];
  for (const t of r.external_targets) {
    if (t.source !== "relationship") continue;
    const spec = RELATIONSHIP_FINDINGS[t.relationship_type ?? ""];
    const line = `${t.id ?? "?"} ${t.relationship_type}: ${t.target}`;
    if (spec) relFindings.set(spec.id, [...relFindings.get(spec.id) ?? [], line]);
    else if (t.relationship_type !== "hyperlink") otherExternal.push(line);
  }
  for (const spec of Object.values(RELATIONSHIP_FINDINGS)) {
    const lines = relFindings.get(spec.id);
    if (lines) out.push({ ...spec, detail: lines.slice(0, 5).join("; ") });
  }
  if (otherExternal.length) {
    out.push({
      id: "external_relationship",
      severity: "medium",
      title: "document part refers to an external location",
      detail: otherExternal.slice(0, 5).join("; "),
    });
  }
  if (r.external_targets.some((t) => t.source === "xinclude")) {
    out.push({
      id: "xinclude",
      severity: "medium",
      title: "XInclude pulls in another document",
      detail: r.external_targets.filter((t) => t.source === "xinclude").map((t) => t.target)
        .slice(0, 5).join("; "),
    });
  }
  if (r.scripts > 0) {
    out.push({
      id: "script_element",
      severity: "medium",
      title: "XML document holds script elements (SVG/XHTML script)",
      detail: `${r.scripts} script element(s)`,
      mitre: ["T1059.007"],
    });
  }
  out.push(...targetFindings(r.external_targets.map((t) => ({
    target: t.target,
    where: t.source === "relationship"
      ? `relationship ${t.id ?? ""}`.trim()
      : `${t.source} in <${t.element}>`,
  }))));
  return out;
}
