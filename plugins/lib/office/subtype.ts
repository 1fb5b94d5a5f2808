/**
 * Which kind of OLE2 compound file a payload is, from its root storage's CLSID and the names of
 * its top-level streams, under the MIME names libmagic gives them: file-type calls every one of
 * them application/x-cfb, and routing and results need .doc, .xls, .ppt, .msg and .msi apart.
 */
import { CfbError, CompoundFile } from "./cfb.ts";

/** A MIME type and the usual extension. */
export interface OleKind {
  mimetype: string;
  extension: string | null;
}

// Root CLSIDs ([MS-CFB] root entry) that name the application outright.
const BY_CLSID: Record<string, OleKind> = {
  "000c1084-0000-0000-c000-000000000046": { mimetype: "application/x-msi", extension: "msi" },
  "000c1086-0000-0000-c000-000000000046": { mimetype: "application/x-msi", extension: "msp" },
};
// Top-level streams that name it, in the order tested (an encrypted package says nothing else).
const BY_STREAM: [test: (names: Set<string>) => boolean, kind: OleKind][] = [
  [(n) => n.has("EncryptedPackage"), { mimetype: "application/encrypted", extension: null }],
  [(n) => n.has("WordDocument"), { mimetype: "application/msword", extension: "doc" }],
  [
    (n) => n.has("Workbook") || n.has("Book"),
    { mimetype: "application/vnd.ms-excel", extension: "xls" },
  ],
  [
    (n) => n.has("PowerPoint Document"),
    { mimetype: "application/vnd.ms-powerpoint", extension: "ppt" },
  ],
  [
    (n) => n.has("__properties_version1.0") || [...n].some((s) => s.startsWith("__substg1.0_")),
    { mimetype: "application/vnd.ms-outlook", extension: "msg" },
  ],
  [(n) => n.has("VisioDocument"), { mimetype: "application/vnd.visio", extension: "vsd" }],
];

/** The kind of the compound file `data`, or null when it is none of the known ones. */
export function oleKind(data: Uint8Array): OleKind | null {
  let cfb: CompoundFile;
  try {
    // The top of the tree is all that is needed: a small entry cap keeps hostile files cheap.
    cfb = new CompoundFile(data, { maxEntries: 4096, maxDepth: 2 });
  } catch (e) {
    if (e instanceof CfbError) return null;
    throw e;
  }
  const root = cfb.entries.find((e) => e.type === "root");
  const byClsid = root?.clsid ? BY_CLSID[root.clsid.toLowerCase()] : undefined;
  if (byClsid) return byClsid;
  const top = new Set(cfb.entries.filter((e) => !e.path.includes("/")).map((e) => e.name));
  return BY_STREAM.find(([test]) => test(top))?.[1] ?? null;
}
