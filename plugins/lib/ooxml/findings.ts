/** What an analyst would flag in an analysed OOXML package. */
import type { Finding } from "../../../core/engine/plugin.ts";
import type { OoxmlReport } from "./analyze.ts";

const list = (items: string[], n = 5) =>
  items.slice(0, n).join("; ") + (items.length > n ? `; and ${items.length - n} more` : "");
// file://, UNC and WebDAV targets make Windows authenticate to the host (NTLM hash leak).
const UNC = /^(file:|\\\\)/i;

/** The findings for one package. */
export function ooxmlFindings(r: OoxmlReport): Finding[] {
  const out: Finding[] = [];
  if (r.remote_templates.length) {
    out.push({
      id: "ooxml_remote_template",
      severity: "high",
      title: "Document loads a template or frame from outside the file (template injection)",
      detail: list(r.remote_templates),
      mitre: ["T1221"],
    });
  }
  const oleLinks = r.ole_objects.filter((o) => o.external).map((o) => o.target ?? "");
  const relLinks = r.external_relationships.filter((e) => /^oleObject$/i.test(e.type))
    .map((e) => e.target);
  const links = [...new Set([...oleLinks, ...relLinks])];
  if (links.length) {
    out.push({
      id: "ooxml_external_ole_link",
      severity: "high",
      title: "OLE object linked to an external source",
      detail: list(links),
      mitre: ["T1203", "T1221"],
    });
  }
  if (r.dde.length) {
    out.push({
      id: "ooxml_dde",
      severity: "high",
      title: "Dynamic Data Exchange (DDE) command",
      detail: list(r.dde.map((d) => `${d.part}: ${d.instruction}`)),
      mitre: ["T1559.002"],
    });
  }
  const macroSheets = r.sheets.filter((s) => /macrosheet/i.test(s.type));
  if (r.macro_enabled || macroSheets.length) {
    const what = [
      ...r.vba_projects.map((v) => `VBA project ${v.name}`),
      ...macroSheets.map((s) => `Excel 4.0 macro sheet ${JSON.stringify(s.name)}`),
      ...(r.vba_projects.length === 0 && r.macro_enabled
        ? [`macro-enabled type ${r.main_content_type}`]
        : []),
      ...r.auto_open_names.map((n) => `auto-run name ${n}`),
    ];
    out.push({
      id: "ooxml_macros",
      severity: r.auto_open_names.length ? "high" : "medium",
      title: "Macro-enabled document",
      detail: list(what),
      mitre: ["T1059.005", "T1204.002"],
    });
  }
  if (r.hidden_sheets.length) {
    const very = r.hidden_sheets.some((s) => s.state === "veryHidden");
    out.push({
      id: "ooxml_hidden_sheets",
      severity: very ? "medium" : "low",
      title: very
        ? "Workbook has very hidden sheets (not shown by Excel's Unhide)"
        : "Workbook has hidden sheets",
      detail: list(r.hidden_sheets.map((s) => `${s.name} (${s.state})`)),
      mitre: ["T1564"],
    });
  }
  const unc = r.external_relationships.filter((e) => UNC.test(e.target)).map((e) => e.target);
  if (unc.length) {
    out.push({
      id: "ooxml_unc_reference",
      severity: "medium",
      title: "External reference to a file share (Windows sends the user's NTLM hash)",
      detail: list(unc),
      mitre: ["T1187"],
    });
  }
  const includes = r.fields.filter((f) => /(https?|ftp|file):|\\\\/i.test(f.instruction));
  if (includes.length) {
    out.push({
      id: "ooxml_remote_field",
      severity: "medium",
      title: "Field includes content from an external location",
      detail: list(includes.map((f) => f.instruction)),
      mitre: ["T1221"],
    });
  }
  if (r.activex_controls > 0) {
    out.push({
      id: "ooxml_activex",
      severity: "low",
      title: "Document holds ActiveX controls",
      detail: `${r.activex_controls} ActiveX control part(s)`,
      mitre: ["T1559.001"],
    });
  }
  return out;
}
