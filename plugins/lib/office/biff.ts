/**
 * Excel 97-2003 workbooks ([MS-XLS], BIFF8): the sheet list (BOUNDSHEET8: name, kind, visibility),
 * defined names (Lbl, e.g. Auto_Open), the shared strings, and the cells of Excel 4 (XLM) macro
 * sheets with their formulas (Rgce, 2.5.198.104) decoded to readable text for the common ptgs.
 * Hand-written: no maintained JavaScript reader decodes macro-sheet formulas. Bounded: records,
 * cells, strings and formula text are capped, and every length is checked against its record.
 */
import { CETAB, FTAB } from "./xlm_functions.ts";

/** A sheet as BOUNDSHEET8 lists it. */
export interface Sheet {
  name: string;
  type: "worksheet" | "macro_sheet" | "chart" | "vba_module" | "dialog" | "unknown";
  state: "visible" | "hidden" | "very_hidden";
  offset: number;
}

/** A defined name (Lbl). */
export interface DefinedName {
  name: string;
  builtin: boolean;
  hidden: boolean;
  formula: string;
}

/** One cell of a macro sheet. */
export interface MacroCell {
  cell: string;
  formula?: string;
  value?: string | number | boolean;
}

/** What the reader found. */
export interface Workbook {
  biff_version: number;
  encrypted: boolean;
  code_page?: number;
  sheets: Sheet[];
  names: DefinedName[];
  /** Cells of macro sheets, by sheet name. */
  macro_cells: Record<string, MacroCell[]>;
  truncated: boolean;
  errors: string[];
}

/** Limits of one read. */
export interface BiffLimits {
  maxRecords: number;
  maxCells: number;
  maxStrings: number;
  maxFormula: number;
}

const DEFAULTS: BiffLimits = {
  maxRecords: 500_000,
  maxCells: 10_000,
  maxStrings: 100_000,
  maxFormula: 4096,
};
const BUILTIN_NAMES = [
  "Consolidate_Area",
  "Auto_Open",
  "Auto_Close",
  "Extract",
  "Database",
  "Criteria",
  "Print_Area",
  "Print_Titles",
  "Recorder",
  "Data_Form",
  "Auto_Activate",
  "Auto_Deactivate",
  "Sheet_Title",
  "_FilterDatabase",
];
const SHEET_TYPES: Record<number, Sheet["type"]> = {
  0: "worksheet",
  1: "macro_sheet",
  2: "chart",
  6: "vba_module",
};
const STATES: Sheet["state"][] = ["visible", "hidden", "very_hidden", "very_hidden"];
const ERRORS: Record<number, string> = {
  0x00: "#NULL!",
  0x07: "#DIV/0!",
  0x0f: "#VALUE!",
  0x17: "#REF!",
  0x1d: "#NAME?",
  0x24: "#NUM!",
  0x2a: "#N/A",
};
const latin1 = new TextDecoder("latin1");
const utf16 = new TextDecoder("utf-16le");

interface Rec {
  id: number;
  pos: number;
  body: Uint8Array;
}

/** Reads the records of a BIFF stream from `start` until EOF (0x000A) or the cap. */
function* records(data: Uint8Array, start: number, max: number): Generator<Rec> {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let pos = start, n = 0; pos + 4 <= data.length && n < max; n++) {
    const id = dv.getUint16(pos, true);
    const len = dv.getUint16(pos + 2, true);
    const body = data.subarray(pos + 4, Math.min(pos + 4 + len, data.length));
    yield { id, pos, body };
    if (id === 0x000a) return;
    pos += 4 + len;
  }
}

function u16(b: Uint8Array, o: number): number {
  return o + 2 <= b.length ? b[o] | (b[o + 1] << 8) : 0;
}
function u32(b: Uint8Array, o: number): number {
  return o + 4 <= b.length ? (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 0x1000000 : 0;
}

/** Column number → letters (0 → A). */
function colName(c: number): string {
  let s = "";
  for (let n = c + 1; n > 0; n = Math.floor((n - 1) / 26)) {
    s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  }
  return s;
}

/** Reads a BIFF8 Workbook stream. */
export function readWorkbook(data: Uint8Array, limits: Partial<BiffLimits> = {}): Workbook {
  const lim = { ...DEFAULTS, ...limits };
  const wb: Workbook = {
    biff_version: 0,
    encrypted: false,
    sheets: [],
    names: [],
    macro_cells: {},
    truncated: false,
    errors: [],
  };
  const nameRecs: Uint8Array[] = [];
  const xti: number[] = [];
  let sst: string[] = [];
  let sstParts: Uint8Array[] | undefined;
  let count = 0;
  for (const r of records(data, 0, lim.maxRecords)) {
    count++;
    if (sstParts && r.id !== 0x003c) {
      sst = readSst(sstParts, lim.maxStrings);
      sstParts = undefined;
    }
    switch (r.id) {
      case 0x0809: // BOF
        if (r.pos === 0) wb.biff_version = u16(r.body, 0);
        break;
      case 0x002f: // FILEPASS
        wb.encrypted = true;
        break;
      case 0x0042: // CODEPAGE
        wb.code_page = u16(r.body, 0);
        break;
      case 0x0085: { // BOUNDSHEET8
        const b = r.body;
        const cch = b[6] ?? 0;
        const name = (b[7] ?? 0) & 1
          ? utf16.decode(b.subarray(8, 8 + cch * 2))
          : latin1.decode(b.subarray(8, 8 + cch));
        wb.sheets.push({
          name,
          type: SHEET_TYPES[b[5]] ?? "unknown",
          state: STATES[(b[4] ?? 0) & 3],
          offset: u32(b, 0),
        });
        break;
      }
      case 0x0018: // Lbl
        if (nameRecs.length < 10_000) nameRecs.push(r.body);
        break;
      case 0x0017: { // EXTERNSHEET
        const n = u16(r.body, 0);
        for (let i = 0; i < n && 2 + i * 6 + 6 <= r.body.length; i++) {
          xti.push(u16(r.body, 2 + i * 6 + 2));
        }
        break;
      }
      case 0x00fc: // SST, continued by CONTINUE records
        sstParts = [r.body];
        break;
      case 0x003c:
        if (sstParts && sstParts.length < 100_000) sstParts.push(r.body);
        break;
    }
    if (r.id === 0x000a) break;
  }
  if (sstParts) sst = readSst(sstParts, lim.maxStrings);
  if (count >= lim.maxRecords) {
    wb.truncated = true;
    wb.errors.push(
      `workbook globals hold more than ${lim.maxRecords} records; the rest are ignored`,
    );
  }
  if (wb.biff_version !== 0x0600) {
    wb.errors.push(
      `BIFF version 0x${
        wb.biff_version.toString(16)
      } (not BIFF8 0x600): sheets and formulas may be misread`,
    );
  }

  // Names first (formulas refer to them by index), then their formulas, which may refer to names.
  const names = nameRecs.map((b) => readName(b));
  const ctx: FormulaContext = {
    sheetName: (ixti) => wb.sheets[xti[ixti]]?.name ?? `#SHEET${ixti}`,
    name: (i) => names[i - 1]?.name ?? `#NAME${i}`,
    max: lim.maxFormula,
  };
  for (let i = 0; i < nameRecs.length; i++) {
    const b = nameRecs[i];
    const rgce = b.subarray(names[i].rgceAt, names[i].rgceAt + u16(b, 4));
    wb.names.push({
      name: names[i].name,
      builtin: names[i].builtin,
      hidden: names[i].hidden,
      formula: decodeFormula(rgce, ctx),
    });
  }
  if (wb.encrypted) {
    wb.errors.push(
      "workbook is encrypted (FILEPASS): sheet contents cannot be read without the password",
    );
    return wb;
  }

  let cells = 0;
  for (const sheet of wb.sheets) {
    if (sheet.type !== "macro_sheet") continue;
    const list: MacroCell[] = [];
    wb.macro_cells[sheet.name] = list;
    if (sheet.offset + 4 > data.length) {
      wb.errors.push(`macro sheet ${sheet.name}: BOF offset ${sheet.offset} is past the stream`);
      continue;
    }
    let pendingString: MacroCell | undefined;
    for (const r of records(data, sheet.offset, lim.maxRecords)) {
      if (cells >= lim.maxCells) {
        wb.truncated = true;
        wb.errors.push(`more than ${lim.maxCells} macro-sheet cells; the rest are ignored`);
        break;
      }
      const b = r.body;
      const at = () => `${colName(u16(b, 2) & 0x3fff)}${u16(b, 0) + 1}`;
      if (r.id === 0x0006 && b.length >= 22) { // FORMULA
        const cell: MacroCell = {
          cell: at(),
          formula: "=" + decodeFormula(b.subarray(22, 22 + u16(b, 20)), ctx),
        };
        const value = formulaValue(b);
        if (value !== undefined) cell.value = value;
        else if (b[6] === 0 && b[12] === 0xff && b[13] === 0xff) pendingString = cell;
        list.push(cell);
        cells++;
      } else if (r.id === 0x0207 && pendingString) { // STRING: the formula's text result
        pendingString.value = xlString(b, 0, 2).text;
        pendingString = undefined;
      } else if (r.id === 0x00fd && b.length >= 10) { // LABELSST
        list.push({ cell: at(), value: sst[u32(b, 6)] ?? "" });
        cells++;
      } else if (r.id === 0x0204 && b.length >= 8) { // LABEL
        list.push({ cell: at(), value: xlString(b, 6, 2).text });
        cells++;
      } else if (r.id === 0x0203 && b.length >= 14) { // NUMBER
        list.push({
          cell: at(),
          value: new DataView(b.buffer, b.byteOffset + 6, 8).getFloat64(0, true),
        });
        cells++;
      }
    }
  }
  return wb;
}

/** The cached value of a FORMULA record when it is a number, boolean or error. */
function formulaValue(b: Uint8Array): number | boolean | string | undefined {
  if (b[12] === 0xff && b[13] === 0xff) {
    if (b[6] === 1) return b[8] !== 0;
    if (b[6] === 2) return ERRORS[b[8]] ?? "#ERR";
    return undefined; // string (follows in STRING) or empty
  }
  return new DataView(b.buffer, b.byteOffset + 6, 8).getFloat64(0, true);
}

/** XLUnicodeString with a `cchBytes`-byte length at `off`. */
function xlString(b: Uint8Array, off: number, cchBytes: 1 | 2): { text: string; end: number } {
  const cch = cchBytes === 2 ? u16(b, off) : (b[off] ?? 0);
  const wide = (b[off + cchBytes] ?? 0) & 1;
  const start = off + cchBytes + 1;
  const end = Math.min(b.length, start + cch * (wide ? 2 : 1));
  return { text: (wide ? utf16 : latin1).decode(b.subarray(start, end)), end };
}

/** Shared strings (SST + CONTINUE, 2.4.265); a string split across records restates its width. */
function readSst(parts: Uint8Array[], max: number): string[] {
  const out: string[] = [];
  let pi = 0, pos = 8;
  const total = Math.min(u32(parts[0], 4), max);
  const left = () => (parts[pi]?.length ?? 0) - pos;
  const next = () => {
    pi++;
    pos = 0;
  };
  while (out.length < total && pi < parts.length) {
    if (left() < 3) {
      if (left() === 0 && pi + 1 < parts.length) {
        next();
        continue;
      }
      break;
    }
    const p = parts[pi];
    const cch = u16(p, pos);
    const flags = p[pos + 2];
    pos += 3;
    const runs = flags & 8 ? u16(p, pos) : 0;
    if (flags & 8) pos += 2;
    const ext = flags & 4 ? u32(p, pos) : 0;
    if (flags & 4) pos += 4;
    let wide = flags & 1;
    let text = "";
    let need = cch;
    for (let guard = 0; need > 0 && guard < 10_000; guard++) {
      if (left() <= 0) {
        if (pi + 1 >= parts.length) break;
        next();
        wide = parts[pi][0] & 1;
        pos = 1;
      }
      const q = parts[pi];
      const n = Math.min(need, Math.floor(left() / (wide ? 2 : 1)));
      if (n <= 0) break;
      text += (wide ? utf16 : latin1).decode(q.subarray(pos, pos + n * (wide ? 2 : 1)));
      pos += n * (wide ? 2 : 1);
      need -= n;
    }
    out.push(text);
    // Skip formatting runs and phonetic data, which may also cross records.
    let skip = runs * 4 + ext;
    while (skip > 0 && pi < parts.length) {
      const n = Math.min(skip, left());
      pos += n;
      skip -= n;
      if (skip > 0) {
        if (pi + 1 >= parts.length) break;
        next();
      }
    }
  }
  return out;
}

function readName(
  b: Uint8Array,
): { name: string; builtin: boolean; hidden: boolean; rgceAt: number } {
  const flags = u16(b, 0);
  const cch = b[3] ?? 0;
  const wide = (b[14] ?? 0) & 1;
  const start = 15;
  const end = Math.min(b.length, start + cch * (wide ? 2 : 1));
  const raw = (wide ? utf16 : latin1).decode(b.subarray(start, end));
  const builtin = (flags & 0x20) !== 0;
  const name = builtin && raw.length > 0
    ? BUILTIN_NAMES[raw.charCodeAt(0)] ?? `Builtin_${raw.charCodeAt(0)}`
    : raw;
  return { name, builtin, hidden: (flags & 1) !== 0, rgceAt: end };
}

interface FormulaContext {
  sheetName(ixti: number): string;
  name(index: number): string;
  max: number;
}

function ref(rw: number, col: number): string {
  const c = col & 0x3fff;
  return `${col & 0x4000 ? "" : "$"}${colName(c)}${col & 0x8000 ? "" : "$"}${rw + 1}`;
}

function relRef(rw: number, col: number): string {
  const r = col & 0x8000 ? (rw << 16) >> 16 : rw;
  const c = col & 0x4000 ? ((col & 0x3fff) << 18) >> 18 : col & 0x3fff;
  return `R${col & 0x8000 ? `[${r}]` : r + 1}C${col & 0x4000 ? `[${c}]` : c + 1}`;
}

const BINARY: Record<number, string> = {
  0x03: "+",
  0x04: "-",
  0x05: "*",
  0x06: "/",
  0x07: "^",
  0x08: "&",
  0x09: "<",
  0x0a: "<=",
  0x0b: "=",
  0x0c: ">=",
  0x0d: ">",
  0x0e: "<>",
  0x0f: " ",
  0x10: ",",
  0x11: ":",
};

/**
 * Decodes a formula (RPN ptgs) to infix text. Unknown tokens end the decoding with a marker
 * saying which token and where, keeping what was decoded before it.
 */
export function decodeFormula(rgce: Uint8Array, ctx: FormulaContext): string {
  const stack: string[] = [];
  const push = (s: string) => {
    if (stack.length < 1000) stack.push(s.length > ctx.max ? s.slice(0, ctx.max) + "…" : s);
  };
  const pop = () => stack.pop() ?? "";
  const args = (n: number) => stack.splice(Math.max(0, stack.length - n), n);
  const call = (name: string, n: number) => push(`${name}(${args(n).join(",")})`);
  let pos = 0;
  const b = rgce;
  while (pos < b.length) {
    const ptg = b[pos];
    const at = pos;
    pos++;
    const need = (n: number) => {
      if (pos + n > b.length) throw new RangeError(`ptg 0x${ptg.toString(16)} at ${at} is cut`);
    };
    try {
      if (ptg in BINARY) {
        const r = pop(), l = pop();
        push(`${l}${BINARY[ptg]}${r}`);
        continue;
      }
      const base = ptg >= 0x20 ? (ptg & 0x1f) | 0x20 : ptg;
      switch (base) {
        case 0x12:
          push(`+${pop()}`);
          break;
        case 0x13:
          push(`-${pop()}`);
          break;
        case 0x14:
          push(`${pop()}%`);
          break;
        case 0x15:
          push(`(${pop()})`);
          break;
        case 0x16:
          push("");
          break;
        case 0x17: { // ptgStr
          need(2);
          const cch = b[pos], wide = b[pos + 1] & 1;
          need(2 + cch * (wide ? 2 : 1));
          const s = (wide ? utf16 : latin1).decode(
            b.subarray(pos + 2, pos + 2 + cch * (wide ? 2 : 1)),
          );
          pos += 2 + cch * (wide ? 2 : 1);
          push(`"${s.replaceAll('"', '""')}"`);
          break;
        }
        case 0x19: { // ptgAttr
          need(3);
          const grbit = b[pos];
          if (grbit & 0x04) { // tAttrChoose: jump table
            pos += 3 + (u16(b, pos + 1) + 1) * 2;
          } else {
            pos += 3;
          }
          if (grbit & 0x10) push(`SUM(${pop()})`);
          break;
        }
        case 0x1c:
          need(1);
          push(ERRORS[b[pos]] ?? "#ERR");
          pos += 1;
          break;
        case 0x1d:
          need(1);
          push(b[pos] ? "TRUE" : "FALSE");
          pos += 1;
          break;
        case 0x1e:
          need(2);
          push(String(u16(b, pos)));
          pos += 2;
          break;
        case 0x1f:
          need(8);
          push(String(new DataView(b.buffer, b.byteOffset + pos, 8).getFloat64(0, true)));
          pos += 8;
          break;
        case 0x01: // ptgExp: part of a shared formula
        case 0x02:
          need(4);
          push(`SHARED(${ref(u16(b, pos), u16(b, pos + 2) | 0xc000)})`);
          pos += 4;
          break;
        case 0x20:
          need(7);
          push("{array}");
          pos += 7;
          break;
        case 0x21: { // ptgFunc
          need(2);
          const [name, n] = FTAB[u16(b, pos)] ?? [`FUNC${u16(b, pos)}`, -1];
          pos += 2;
          call(name || `FUNC${u16(b, pos - 2)}`, Math.max(0, n));
          break;
        }
        case 0x22: { // ptgFuncVar
          need(3);
          const n = b[pos] & 0x7f;
          const tab = u16(b, pos + 1);
          pos += 3;
          const idx = tab & 0x7fff;
          if (!(tab & 0x8000) && idx === 0xff) { // user-defined: the first argument is the name
            const a = args(n);
            push(`${a[0] ?? ""}(${a.slice(1).join(",")})`);
          } else {
            const name = tab & 0x8000
              ? CETAB.get(idx) ?? `CMD${idx}`
              : FTAB[idx]?.[0] || `FUNC${idx}`;
            call(name, n);
          }
          break;
        }
        case 0x23:
          need(4);
          push(ctx.name(u32(b, pos)));
          pos += 4;
          break;
        case 0x24:
          need(4);
          push(ref(u16(b, pos), u16(b, pos + 2)));
          pos += 4;
          break;
        case 0x25:
          need(8);
          push(`${ref(u16(b, pos), u16(b, pos + 4))}:${ref(u16(b, pos + 2), u16(b, pos + 6))}`);
          pos += 8;
          break;
        case 0x26: // ptgMemArea, ptgMemErr, ptgMemNoMem: the subexpression follows
        case 0x27:
        case 0x28:
          need(6);
          pos += 6;
          break;
        case 0x29:
          need(2);
          pos += 2;
          break;
        case 0x2a:
          need(4);
          push("#REF!");
          pos += 4;
          break;
        case 0x2b:
          need(8);
          push("#REF!");
          pos += 8;
          break;
        case 0x2c:
          need(4);
          push(relRef(u16(b, pos), u16(b, pos + 2)));
          pos += 4;
          break;
        case 0x2d:
          need(8);
          push(
            `${relRef(u16(b, pos), u16(b, pos + 4))}:${relRef(u16(b, pos + 2), u16(b, pos + 6))}`,
          );
          pos += 8;
          break;
        case 0x39:
          need(6);
          push(ctx.name(u32(b, pos + 2)));
          pos += 6;
          break;
        case 0x3a:
          need(6);
          push(`${ctx.sheetName(u16(b, pos))}!${ref(u16(b, pos + 2), u16(b, pos + 4))}`);
          pos += 6;
          break;
        case 0x3b:
          need(10);
          push(
            `${ctx.sheetName(u16(b, pos))}!${ref(u16(b, pos + 2), u16(b, pos + 6))}:${
              ref(u16(b, pos + 4), u16(b, pos + 8))
            }`,
          );
          pos += 10;
          break;
        case 0x3c:
          need(6);
          push("#REF!");
          pos += 6;
          break;
        case 0x3d:
          need(10);
          push("#REF!");
          pos += 10;
          break;
        default:
          push(`<ptg 0x${ptg.toString(16)} at ${at}>`);
          return stack.join(" ");
      }
    } catch (e) {
      push(`<${(e as Error).message}>`);
      return stack.join(" ");
    }
  }
  return stack.join(" ");
}
