/**
 * `--format tree`: a result document as the payload tree an analyst reads, each payload once
 * under the payload it was extracted from, with its type, size, short sha256, findings, other
 * YARA rules, IOCs and errors; then the verdict with the findings that made it. Coloured only
 * when asked (a terminal without NO_COLOR; see {@link useColor}).
 */
import type { Severity } from "../../engine/model.ts";
import {
  type AnyDoc,
  findingsOf,
  iocsOf,
  nameOf,
  payloads,
  rulesOf,
  sha256Of,
  sizeOf,
  typeOf,
  verdictOf,
} from "./facts.ts";

/** Whether output to a stream should be coloured: a terminal, and NO_COLOR unset or empty. */
export function useColor(isTerminal: boolean): boolean {
  return isTerminal && !Deno.env.get("NO_COLOR");
}

const SGR = {
  reset: "\x1b[0m",
  bold: "\x1b[1m",
  dim: "\x1b[2m",
  red: "\x1b[31m",
  green: "\x1b[32m",
  yellow: "\x1b[33m",
  magenta: "\x1b[35m",
  cyan: "\x1b[36m",
};
type Style = keyof typeof SGR;

const SEVERITY_STYLE: Record<Severity, Style[]> = {
  critical: ["bold", "magenta"],
  high: ["bold", "red"],
  medium: ["yellow"],
  low: ["cyan"],
  info: ["dim"],
};
const VERDICT_STYLE: Record<string, Style[]> = {
  malicious: ["bold", "red"],
  suspicious: ["bold", "yellow"],
  clean: ["bold", "green"],
  unknown: ["bold"],
};

/** Most characters of a finding's detail or an error shown on one line. */
const DETAIL_MAX = 160;
const IOC_MAX = 5;
const DEPTH_MAX = 200;

/** `1234` → `1.2 KiB`. */
export function humanSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/**
 * Text from a result, made safe for a terminal: a name or detail may hold escape sequences, which
 * must not move the cursor or recolour the screen.
 */
export function safe(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, "?");
}

function clip(s: string, max = DETAIL_MAX): string {
  const one = safe(s.replace(/\s+/g, " ").trim());
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** Renders one result document as a tree; `color` adds ANSI colours. */
export function renderTree(doc: AnyDoc, color = false): string {
  const paint = (text: string, ...styles: Style[]) =>
    color && styles.length ? `${styles.map((s) => SGR[s]).join("")}${text}${SGR.reset}` : text;
  const all = payloads(doc);
  const byId = new Map(all.map((p) => [p.payload_id, p]));
  const children = new Map<string, typeof all>();
  const tops: typeof all = [];
  const placed = new Set<string>();
  for (const p of all) {
    const parent = (Array.isArray(p.extracted_from) ? p.extracted_from : [])
      .find((id) => byId.has(id) && id !== p.payload_id);
    if (parent === undefined) tops.push(p);
    else (children.get(parent) ?? children.set(parent, []).get(parent)!).push(p);
  }
  const errorsByPayload = new Map<string, string[]>();
  const scanErrors: string[] = [];
  for (const e of Array.isArray(doc.errors) ? doc.errors : []) {
    if (!e || typeof e !== "object" || typeof e.error !== "string") continue;
    const text = `${e.plugin_name ? `${e.plugin_name}: ` : ""}${e.error}`;
    if (typeof e.payload_id === "string" && byId.has(e.payload_id)) {
      const list = errorsByPayload.get(e.payload_id) ?? [];
      list.push(text);
      errorsByPayload.set(e.payload_id, list);
    } else scanErrors.push(text);
  }

  const lines: string[] = [];
  const label = (p: typeof all[number]): string => {
    const parts = [paint(safe(nameOf(p) ?? "(no name)"), "bold")];
    const type = typeOf(p);
    if (type) parts.push(paint(safe(type), "cyan"));
    const size = sizeOf(p);
    if (size !== undefined) parts.push(humanSize(size));
    const sha = sha256Of(p);
    if (sha) parts.push(paint(sha.slice(0, 12), "dim"));
    const others = (Array.isArray(p.extracted_from) ? p.extracted_from : []).slice(1)
      .map((id) => byId.get(id)).filter((q) => q !== undefined).map((q) => nameOf(q!) ?? "?");
    if (others.length) parts.push(paint(`(also in ${clip(others.join(", "))})`, "dim"));
    return parts.join("  ");
  };
  const details = (p: typeof all[number]): string[] => {
    const out: string[] = [];
    const findings = findingsOf(p);
    for (const f of findings) {
      const mitre = f.mitre?.length ? paint(` [${f.mitre.join(", ")}]`, "dim") : "";
      out.push(
        `${paint(`! ${f.severity.padEnd(8)}`, ...SEVERITY_STYLE[f.severity])} ${safe(f.plugin)} ` +
          `${f.id}: ${clip(f.title, 100)}${f.detail ? paint(` — ${clip(f.detail)}`, "dim") : ""}` +
          mitre,
      );
    }
    const asFinding = new Set(findings.filter((f) => f.plugin === "yara").map((f) => f.id));
    const rules = rulesOf(p).filter((r) => !asFinding.has(r.toLowerCase()));
    if (rules.length) out.push(`yara: ${clip(rules.join(", "), 2 * DETAIL_MAX)}`);
    const iocs = Object.entries(iocsOf(p));
    if (iocs.length) {
      const shown = iocs.map(([type, values]) =>
        `${type} ${values.slice(0, IOC_MAX).join(", ")}` +
        (values.length > IOC_MAX ? ` (+${values.length - IOC_MAX})` : "")
      );
      out.push(`iocs: ${clip(shown.join("; "), 2 * DETAIL_MAX)}`);
    }
    for (const e of errorsByPayload.get(p.payload_id) ?? []) {
      out.push(paint(`✗ ${clip(e)}`, "red"));
    }
    return out;
  };
  const walk = (p: typeof all[number], prefix: string, connector: string, under: string, d = 0) => {
    if (placed.has(p.payload_id)) return;
    placed.add(p.payload_id);
    lines.push(paint(prefix + connector, "dim") + label(p));
    const kids = (children.get(p.payload_id) ?? []).filter((k) => !placed.has(k.payload_id));
    for (const line of details(p)) {
      lines.push(
        paint(prefix + under + (kids.length && d < DEPTH_MAX ? "│  " : "   "), "dim") + line,
      );
    }
    if (d >= DEPTH_MAX) return;
    kids.forEach((k, i) => {
      const last = i === kids.length - 1;
      walk(k, prefix + under, last ? "└─ " : "├─ ", last ? "   " : "│  ", d + 1);
    });
  };
  for (const p of tops) walk(p, "", "", "");
  // A payload whose chain loops back never hangs from a top: list it at the end.
  for (const p of all) walk(p, "", "", "");

  const v = verdictOf(doc);
  lines.push("");
  if (v) {
    lines.push(
      `verdict: ${paint(v.verdict.toUpperCase(), ...(VERDICT_STYLE[v.verdict] ?? []))}  ` +
        `score ${v.score}  ${paint(`(${clip(v.reason, 400)})`, "dim")}`,
    );
    const width = Math.max(0, ...v.findings.map((f) => `${f.plugin} ${f.id}`.length));
    for (const f of v.findings) {
      lines.push(
        `  ${String(f.points).padStart(4)}  ${safe(`${f.plugin} ${f.id}`).padEnd(width)}  ` +
          paint(clip(f.path.join(" › ")), "dim"),
      );
    }
    if (v.findings_total > v.findings.length) {
      lines.push(paint(`  (${v.findings_total} findings in all)`, "dim"));
    }
  } else lines.push(paint("verdict: none (the verdict decorator did not run)", "dim"));
  if (scanErrors.length) {
    lines.push(paint(`errors: ${scanErrors.length}`, "red"));
    for (const e of scanErrors.slice(0, 50)) lines.push(paint(`  ✗ ${clip(e)}`, "red"));
  }
  const errors = Array.isArray(doc.errors) ? doc.errors.length : 0;
  const id = typeof doc.scan_id === "string" ? doc.scan_id : "?";
  const time = typeof doc.time === "string" ? doc.time : "";
  lines.push(paint(
    `scan ${id}  ${time}  ${all.length} payload(s), ${errors} error(s)`,
    "dim",
  ));
  return lines.join("\n") + "\n";
}
