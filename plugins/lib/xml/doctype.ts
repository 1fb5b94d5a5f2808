/**
 * Reads a DOCTYPE declaration (XML 1.0 §2.8, entity declarations §4.2) without acting on it:
 * its root name, external identifier, and the entities its internal subset declares. Nothing is
 * fetched or expanded; the size an entity would expand to is computed arithmetically (memoised,
 * cycle-safe), which is how a "billion laughs" file is recognised without being expanded.
 */

/** One `<!ENTITY>` declaration. */
export interface EntityDeclaration {
  name: string;
  /** A parameter entity (`<!ENTITY % name ...>`), used inside the DTD itself. */
  parameter: boolean;
  /** `external`: its replacement text would be fetched from `system_id` (XXE). */
  type: "internal" | "external";
  value?: string;
  system_id?: string;
  public_id?: string;
  /** An unparsed entity's notation (`NDATA`). */
  notation?: string;
}

/** What a DOCTYPE declares. */
export interface Doctype {
  name: string;
  public_id: string | null;
  system_id: string | null;
  has_internal_subset: boolean;
  entities: EntityDeclaration[];
  /** Declarations found, including those beyond the kept list. */
  entity_count: number;
  /** Parameter entities the subset refers to (`%name;`): how external DTDs are pulled in. */
  parameter_references: string[];
  /** The most characters one general entity would expand to (capped at 1e15). */
  max_expansion: number;
  /** Entities that refer to themselves, directly or not (never expandable). */
  recursive_entities: string[];
}

const MAX_KEPT = 50;
const MAX_SCANNED = 10_000;
const VALUE_SHOWN = 200;
const EXPANSION_CAP = 1e15;

const QUOTED = String.raw`(?:"([^"]*)"|'([^']*)')`;
const ENTITY_RE = new RegExp(
  String
    .raw`<!ENTITY\s+(%\s+)?([^\s%;>]+)\s+(?:SYSTEM\s+${QUOTED}|PUBLIC\s+${QUOTED}\s+${QUOTED}|${QUOTED})(?:\s+NDATA\s+([^\s>]+))?\s*>`,
  "g",
);
const EXTERNAL_ID_RE = new RegExp(
  String.raw`^\s*([^\s\[>]+)(?:\s+(?:SYSTEM\s+${QUOTED}|PUBLIC\s+${QUOTED}(?:\s+${QUOTED})?))?`,
);

/** Parses the body of a DOCTYPE as lib/xml/parser.ts hands it over (everything after `<!DOCTYPE`). */
export function parseDoctype(body: string): Doctype {
  const open = body.indexOf("[");
  const head = open < 0 ? body : body.slice(0, open);
  const m = EXTERNAL_ID_RE.exec(head);
  const subset = open < 0
    ? ""
    : body.slice(open + 1, body.lastIndexOf("]") > open ? body.lastIndexOf("]") : undefined);
  // Comments may hold text that looks like a declaration.
  const clean = subset.replace(/<!--[\s\S]*?-->/g, "");
  const entities: EntityDeclaration[] = [];
  const values = new Map<string, string>();
  let count = 0;
  for (const e of clean.matchAll(ENTITY_RE)) {
    if (++count > MAX_SCANNED) break;
    const [, pct, name, sys1, sys2, pub1, pub2, pubSys1, pubSys2, val1, val2, ndata] = e;
    const decl: EntityDeclaration = {
      name,
      parameter: pct !== undefined,
      type: "internal",
    };
    const system = sys1 ?? sys2 ?? pubSys1 ?? pubSys2;
    const pub = pub1 ?? pub2;
    if (system !== undefined) {
      decl.type = "external";
      decl.system_id = system;
      if (pub !== undefined) decl.public_id = pub;
      if (ndata) decl.notation = ndata;
    } else {
      const value = val1 ?? val2 ?? "";
      decl.value = value.length > VALUE_SHOWN ? `${value.slice(0, VALUE_SHOWN)}…` : value;
      // The first declaration of a name binds (XML 1.0 §4.2).
      if (!decl.parameter && !values.has(name)) values.set(name, value);
    }
    if (entities.length < MAX_KEPT) entities.push(decl);
  }
  const paramRefs = new Set<string>();
  for (const r of clean.replace(ENTITY_RE, "").matchAll(/%([A-Za-z_:][\w.:-]*);/g)) {
    if (paramRefs.size >= MAX_KEPT) break;
    paramRefs.add(r[1]);
  }
  const { max, recursive } = expansion(values);
  return {
    name: m?.[1] ?? "",
    public_id: m?.[4] ?? m?.[5] ?? null,
    system_id: m?.[2] ?? m?.[3] ?? m?.[6] ?? m?.[7] ?? null,
    has_internal_subset: open >= 0,
    entities,
    entity_count: Math.min(count, MAX_SCANNED),
    parameter_references: [...paramRefs],
    max_expansion: max,
    recursive_entities: recursive,
  };
}

/** The largest expansion of any general entity, and the entities that recurse. */
function expansion(values: Map<string, string>): { max: number; recursive: string[] } {
  const size = new Map<string, number>();
  const state = new Map<string, "visiting" | "done">();
  const recursive = new Set<string>();
  // Iterative DFS: a hostile chain of thousands of entities must not exhaust the stack.
  const refsOf = (v: string) => [...v.matchAll(/&([A-Za-z_:][\w.:-]*);/g)].map((r) => r[1]);
  const literal = (v: string) => v.replace(/&[A-Za-z_:][\w.:-]*;/g, "").length;
  for (const root of values.keys()) {
    if (state.get(root) === "done") continue;
    const stack: { name: string; refs: string[]; i: number; total: number }[] = [];
    const push = (name: string) => {
      state.set(name, "visiting");
      const v = values.get(name)!;
      stack.push({ name, refs: refsOf(v), i: 0, total: literal(v) });
    };
    push(root);
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top.i < top.refs.length) {
        const ref = top.refs[top.i++];
        if (!values.has(ref)) {
          top.total += ref.length + 2; // undeclared or predefined (&amp;): counted as written
        } else if (state.get(ref) === "visiting") {
          for (const f of stack) recursive.add(f.name);
        } else if (state.get(ref) === "done") {
          top.total = Math.min(EXPANSION_CAP, top.total + size.get(ref)!);
        } else push(ref);
        continue;
      }
      stack.pop();
      state.set(top.name, "done");
      size.set(top.name, top.total);
      const parent = stack[stack.length - 1];
      if (parent) parent.total = Math.min(EXPANSION_CAP, parent.total + top.total);
    }
  }
  return { max: Math.max(0, ...size.values()), recursive: [...recursive].slice(0, MAX_KEPT) };
}
