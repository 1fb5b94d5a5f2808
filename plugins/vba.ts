/**
 * Macros of OLE2 Office files (.doc/.xls/.ppt and a bare vbaProject.bin from .docm/.xlsm/.pptm):
 * each VBA module's source as a child ([MS-OVBA] decompression), olevba's auto-exec and
 * suspicious keywords, IOCs, encoded strings and MacroRaptor's A/W/X verdict (stoQ's `mraptor`,
 * Strelka's ScanVba), plus Excel 4 (XLM) macro sheets of BIFF8 workbooks with their formulas
 * (Strelka's ScanXl4ma). Parsing is in lib/office/.
 */
import type { ExtractedPayload, Finding, StoqAPI } from "../core/engine/plugin.ts";

const MiB = 1024 * 1024;

/** XLM functions an analyst wants flagged: they run programs, call DLLs or write files. */
const XLM_DANGEROUS =
  /\b(EXEC|CALL|REGISTER|REGISTER\.ID|RUN|FORMULA|FORMULA\.FILL|FORMULA\.ARRAY|SET\.VALUE|SET\.NAME|FOPEN|FWRITE|FWRITELN|FILE\.DELETE|SAVE\.AS|WORKBOOK\.HIDE|EVALUATE|CREATE\.OBJECT|GET\.WORKSPACE|ON\.TIME)\(/gi;
const XLM_STRINGS =
  /URLDownloadToFile[AW]?|urlmon|kernel32|shell32|ShellExecute[AW]?|CreateThread|VirtualAlloc|WriteProcessMemory|powershell|mshta|rundll32|regsvr32|certutil|bitsadmin|wscript|cscript/gi;

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  return stoq.plugin({
    name: "vba",
    version: "1.0.0",
    description:
      "VBA macro source (children), auto-exec/suspicious keywords, IOCs, MacroRaptor; Excel 4 macro sheets",
    classes: ["worker"],
    options: {
      max_source_size: z.number().int().positive().default(16 * MiB),
      max_macro_cells: z.number().int().positive().default(10_000),
    },
    create: async (opts) => {
      // Loaded once per instance: most runs never meet an OLE file, and a scan should not pay
      // for module resolution (the tldts suffix list behind the IOC engine is the heavy part).
      const { CompoundFile, CfbError } = await import("./lib/office/cfb.ts");
      const { extractVba } = await import("./lib/office/ovba.ts");
      const { readWorkbook } = await import("./lib/office/biff.ts");
      const { readPpt } = await import("./lib/office/ppt.ts");
      const { createHash } = await import("node:crypto");
      const scan = await import("./lib/office/vba_scan.ts");
      const ioc = await import("./lib/ioc/extract.ts");
      const domains = new ioc.DomainValidator();
      const allowlist = new ioc.Allowlist();
      return {
        scan(payload) {
          let cfb;
          try {
            cfb = new CompoundFile(payload.content);
          } catch (e) {
            if (e instanceof CfbError) return { errors: [`vba: ${e.message}`] };
            throw e;
          }
          const results: Record<string, unknown> = {};
          const projects = extractVba(cfb, opts.max_source_size);
          // PowerPoint 97-2003 keeps its project as a compressed storage in a record.
          const pptErrors: string[] = [];
          const pptStream = cfb.find("PowerPoint Document");
          if (pptStream) {
            const user = cfb.find("Current User");
            const ppt = readPpt(cfb.read(pptStream), user && cfb.read(user), {
              maxVbaSize: opts.max_source_size * 4,
              maxChars: 0,
            });
            pptErrors.push(...ppt.errors.filter((e) => e.startsWith("VBA")));
            if (ppt.vba) {
              const { offset, compressed, storage } = ppt.vba;
              const sha256 = createHash("sha256").update(storage).digest("hex");
              results.ppt_vba_storage = { offset, compressed, size: storage.length, sha256 };
              try {
                const inner = new CompoundFile(ppt.vba.storage);
                const where = `PowerPoint Document@${ppt.vba.offset}`;
                for (const p of extractVba(inner, opts.max_source_size)) {
                  projects.push({ ...p, storage: p.storage ? `${where}/${p.storage}` : where });
                }
                pptErrors.push(...inner.errors.map((e) => `VBA project storage: ${e}`));
              } catch (e) {
                if (!(e instanceof CfbError)) throw e;
                pptErrors.push(`VBA project storage: ${e.message}`);
              }
            }
          }
          const book = cfb.find("Workbook") ?? cfb.find("Book");
          const xlm = book
            ? readWorkbook(cfb.read(book), {
              maxCells: opts.max_macro_cells,
            })
            : undefined;
          const macroSheets = xlm?.sheets.filter((s) => s.type === "macro_sheet") ?? [];
          const errors = [
            ...projects.flatMap((p) => p.errors),
            ...pptErrors,
            ...(xlm?.errors ?? []),
          ].map((m) => `vba: ${m}`);
          const findings: Finding[] = [];
          const extracted: ExtractedPayload[] = [];

          // VBA modules.
          const sources: string[] = [];
          results.vba_projects = projects.map((p) => {
            const forms = new Set((p.project.forms as string[] | undefined) ?? []);
            const classes = new Set((p.project.class_modules as string[] | undefined) ?? []);
            return {
              storage: p.storage,
              name: p.dir.name,
              code_page: p.dir.code_page,
              sys_kind: p.dir.sys_kind,
              version: p.dir.version,
              references: p.dir.references,
              project: p.project,
              modules: p.modules.map((m) => {
                const ext = forms.has(m.name)
                  ? "frm"
                  : classes.has(m.name) || m.type === "document"
                  ? "cls"
                  : "bas";
                sources.push(m.code);
                extracted.push({
                  content: m.code,
                  payload_meta: {
                    extra_data: {
                      filename: `${m.name}.${ext}`,
                      vba_module: m.name,
                      stream: m.stream,
                      module_type: m.type,
                    },
                  },
                });
                return { name: m.name, stream: m.stream, type: m.type, size: m.size };
              }),
            };
          });
          const locked = projects.some((p) => p.project.password_protected === true);
          if (locked) {
            findings.push({
              id: "locked_project",
              severity: "low",
              title: "VBA project is password-protected",
              detail:
                "the project is locked for viewing in the VBA editor; the source is still extracted here",
            });
          }

          // Excel 4 macro sheets: one text child per sheet, formulas listed in the results.
          const xlmLines: string[] = [];
          if (xlm) {
            results.workbook = {
              biff_version: xlm.biff_version,
              encrypted: xlm.encrypted,
              sheets: xlm.sheets.map(({ name, type, state }) => ({ name, type, state })),
              defined_names: xlm.names,
            };
            for (const n of xlm.names) xlmLines.push(`' NAME ${n.name} = ${n.formula}`);
            if (macroSheets.length) {
              results.xlm_macros = xlm.macro_cells;
              for (const s of macroSheets) {
                const lines = (xlm.macro_cells[s.name] ?? []).map((c) =>
                  `${s.name}!${c.cell}: ${c.formula ?? ""}${
                    c.value !== undefined ? ` -> ${JSON.stringify(c.value)}` : ""
                  }`
                );
                xlmLines.push(...lines);
                extracted.push({
                  content: lines.join("\n") + "\n",
                  payload_meta: {
                    extra_data: { filename: `${s.name}.xlm.txt`, xlm_sheet: s.name },
                  },
                });
              }
            }
            for (const s of xlm.sheets) {
              if (s.state === "visible") continue;
              findings.push({
                id: s.state === "very_hidden" ? "very_hidden_sheet" : "hidden_sheet",
                severity: s.state === "very_hidden" ? "high" : "medium",
                title: s.state === "very_hidden"
                  ? "Very hidden sheet (only a macro or the VBA editor can show it)"
                  : "Hidden sheet",
                detail: `${s.type} "${s.name}"`,
                mitre: ["T1564"],
              });
            }
            if (xlm.encrypted) {
              findings.push({
                id: "encrypted_workbook",
                severity: "medium",
                title: "Workbook is encrypted (FILEPASS)",
                detail:
                  "sheets and Excel 4 macros cannot be read without the password; Excel opens files encrypted with the default password VelvetSweatshop without asking",
                mitre: ["T1027"],
              });
            }
          }
          if (macroSheets.length) {
            findings.push({
              id: "xlm_macro_sheet",
              severity: "high",
              title: "Excel 4 (XLM) macro sheet",
              detail: macroSheets.map((s) => `"${s.name}" (${s.state})`).join(", "),
              mitre: ["T1059"],
            });
          }
          const xlmText = xlmLines.join("\n");
          const autoNames = (xlm?.names ?? []).filter((n) =>
            /^auto_(open|close|activate|deactivate)/i.test(n.name)
          );
          if (autoNames.length) {
            findings.push({
              id: "xlm_auto_open",
              severity: "high",
              title: "Excel 4 macro runs when the workbook opens",
              detail: autoNames.map((n) => `${n.name} = ${n.formula}`).join("; "),
              mitre: ["T1204.002"],
            });
          }
          const dangerous = unique(
            [...xlmText.matchAll(XLM_DANGEROUS)].map((m) => m[1].toUpperCase()),
          );
          const dangerStrings = unique([...xlmText.matchAll(XLM_STRINGS)].map((m) => m[0]));
          if (dangerous.length || dangerStrings.length) {
            findings.push({
              id: "xlm_suspicious_function",
              severity: "high",
              title: "Excel 4 macro runs programs, calls DLLs or writes files",
              detail: [...dangerous, ...dangerStrings].join(", "),
              mitre: ["T1059"],
            });
          }

          const code = sources.join("\n");
          const analysed = [code, xlmText].filter(Boolean).join("\n");
          results.macros = sources.length > 0 || macroSheets.length > 0;
          if (analysed) {
            const autoexec = scan.autoexecKeywords(analysed);
            const suspicious = scan.suspiciousKeywords(analysed);
            const mraptor = scan.macroRaptor(analysed);
            results.autoexec = autoexec;
            results.suspicious = suspicious;
            results.mraptor = mraptor;
            const encoded = scan.encodedStrings(analysed);
            if (encoded.length) results.encoded_strings = encoded;
            const text = analysed + "\n" + encoded.map((e) => e.decoded).join("\n");
            const { results: found } = ioc.extractIocs(ioc.refang(text), {
              types: ["ipv4", "email", "url"],
              maxPerType: 100,
              allowlist,
              domains,
            });
            const exe = unique([...text.matchAll(scan.EXECUTABLE_NAME_RE)].map((m) => m[0]))
              .slice(0, 100);
            // olevba's IOC kinds: URLs, IPv4 and e-mail addresses, executable file names.
            results.iocs = exe.length ? { ...found, executable_names: exe } : found;
            if (autoexec.length) {
              findings.push({
                id: "autoexec_macro",
                severity: "medium",
                title: "Macro runs automatically",
                detail: autoexec.map((k) => `${k.keyword}: ${k.description}`).join("; "),
                mitre: ["T1204.002"],
              });
            }
            if (suspicious.length) {
              findings.push({
                id: "suspicious_keyword",
                severity: "medium",
                title: "Suspicious macro keywords",
                detail: suspicious.map((k) => k.keyword).join(", "),
                mitre: ["T1059.005"],
              });
            }
            if (mraptor.suspicious) {
              findings.push({
                id: "mraptor_suspicious",
                severity: "high",
                title: `MacroRaptor: SUSPICIOUS (${mraptor.flags})`,
                detail: `auto-exec with ${
                  [mraptor.write && "write", mraptor.execute && "execute"].filter(Boolean).join(
                    " and ",
                  )
                }: ${mraptor.matches.join(", ")}`,
                mitre: ["T1059.005"],
              });
            }
          }
          if (findings.length) results.findings = findings;
          return { results, extracted, errors };
        },
      };
    },
  });
};

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
