/**
 * pdfid's view of a document, on current objects only: how often each risky name occurs (as a
 * key or a value), names spelled with `#xx` escapes of plain letters (obfuscation), which objects
 * hold a risky name (the only ones the analysis needs to parse), and the role of streams named
 * by `/ToUnicode 5 0 R`-style entries. One regular-expression pass over each object's text
 * (object-stream members in their decoded text), so most objects are never parsed.
 */
import type { PdfDocument, PdfObject } from "./document.ts";
import { decodeName } from "./lexer.ts";

/** What the scan found. */
export interface NameScan {
  /** Occurrences of each risky name in current objects. */
  counts: Map<string, number>;
  /** The same, counting only objects inside object streams. */
  hidden: Map<string, number>;
  /** Decoded name → raw spelling → occurrences, for escapes of letters and digits. */
  obfuscated: Map<string, Map<string, number>>;
  /** Current objects that hold a risky name (or /EF). */
  interesting: PdfObject[];
  /** Stream object number → the key that names it (`/ToUnicode`, `/FontFile2`...). */
  roles: Map<number, string>;
}

const D = "\\0\\t\\n\\f\\r \\/<>\\[\\]()%{}"; // white-space and delimiters
const W = "[\\0\\t\\n\\f\\r ]";
// 1: a risky name; 2, 3: a role key and the object it names; 4: a name with a # escape.
const NAMES = new RegExp(
  "\\/(?:(JavaScript|JS|OpenAction|AA|Launch|EmbeddedFiles?|URI|SubmitForm|ImportData|GoToR|GoToE|" +
    "AcroForm|XFA|RichMedia|ObjStm|JBIG2Decode|Encrypt|EF)" +
    `|(ToUnicode|FontFile[23]?|Contents|Metadata|Thumb|SMask)${W}*(\\d{1,10})${W}+\\d{1,5}${W}+R` +
    `|([^${D}#]*#[^${D}]*))(?=[${D}]|$)`,
  "g",
);

// Escapes of these never have a reason: only obfuscation spells them with #xx (pdfid's test).
const PLAIN_ESCAPE = /#(?:3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|6[1-9A-Fa-f]|7[0-9Aa])/;

/** Scans the current objects of `doc` for `risky` names (each given with its slash). */
export function scanNames(doc: PdfDocument, risky: ReadonlySet<string>): NameScan {
  const scan: NameScan = {
    counts: new Map(),
    hidden: new Map(),
    obfuscated: new Map(),
    interesting: [],
    roles: new Map(),
  };
  for (const obj of doc.objects.values()) {
    const region = doc.region(obj);
    const hidden = obj.container !== undefined;
    let interesting = false;
    NAMES.lastIndex = 0;
    for (let m = NAMES.exec(region); m; m = NAMES.exec(region)) {
      let name: string | undefined;
      if (m[1] !== undefined) name = "/" + m[1];
      else if (m[2] !== undefined) {
        const num = Number(m[3]);
        if (!scan.roles.has(num)) scan.roles.set(num, "/" + m[2]);
        continue;
      } else {
        const raw = "/" + m[4];
        name = decodeName(raw);
        if (PLAIN_ESCAPE.test(raw)) {
          let spellings = scan.obfuscated.get(name);
          if (!spellings) scan.obfuscated.set(name, spellings = new Map());
          spellings.set(raw, (spellings.get(raw) ?? 0) + 1);
        }
        if (name !== "/EF" && !risky.has(name)) continue;
      }
      interesting = true;
      if (name === "/EF") continue;
      scan.counts.set(name, (scan.counts.get(name) ?? 0) + 1);
      if (hidden) scan.hidden.set(name, (scan.hidden.get(name) ?? 0) + 1);
    }
    if (interesting) scan.interesting.push(obj);
  }
  return scan;
}
