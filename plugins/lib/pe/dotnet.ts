/**
 * The CLR (COM descriptor) header of a .NET assembly (ECMA-335 II.25.3.3) and what its metadata
 * names (clr_metadata.ts): the assembly, its references, P/Invoke imports and embedded
 * resources, which become children.
 */
import { directory, offsetOf, type PeHeaders, rvaToOffset } from "./headers.ts";
import { flagNames } from "./constants.ts";
import { hex, type Reader } from "../bytes/reader.ts";
import { type ClrMetadata, parseMetadata } from "./clr_metadata.ts";

const COMIMAGE_FLAGS: [number, string][] = [
  [0x1, "ILONLY"],
  [0x2, "32BITREQUIRED"],
  [0x4, "IL_LIBRARY"],
  [0x8, "STRONGNAMESIGNED"],
  [0x10, "NATIVE_ENTRYPOINT"],
  [0x10000, "TRACKDEBUGDATA"],
  [0x20000, "32BITPREFERRED"],
];

/** What the CLR header and metadata say. */
export interface DotNet {
  runtime_version: string;
  flags: { value: string; names: string[] };
  /** A MethodDef or File token; an RVA when the flags say NATIVE_ENTRYPOINT. */
  entry_point_token?: string;
  entry_point_rva?: number;
  metadata: { rva: number; size: number; version: string | null };
  resources?: { rva: number; size: number };
  strong_name_signature?: { rva: number; size: number };
  vtable_fixups?: { rva: number; size: number };
  module?: ClrMetadata["module"];
  assembly?: ClrMetadata["assembly"];
  assembly_refs?: ClrMetadata["assembly_refs"];
  module_refs?: string[];
  pinvoke?: ClrMetadata["pinvoke"];
  manifest_resources?: (ClrMetadata["manifest_resources"][number] & { size?: number })[];
  truncated_tables?: string[];
}

/** An embedded manifest resource's bytes. */
export interface DotNetResource {
  name: string;
  offset: number;
  data: Uint8Array;
}

/** Parses the CLR header and metadata; undefined when the image is not .NET. */
export function parseDotNet(
  r: Reader,
  h: PeHeaders,
  errors: string[],
): { dotnet: DotNet; resources: DotNetResource[] } | undefined {
  const dir = directory(h, "com_descriptor");
  if (!dir) return undefined;
  const at = offsetOf(h, dir.rva, "CLR header");
  const w = "CLR header";
  const range = (o: number) => ({ rva: r.u32(at + o, w), size: r.u32(at + o + 4, w) });
  const flags = r.u32(at + 16, w);
  const entry = r.u32(at + 20, w);
  const meta = range(8);
  const dotnet: DotNet = {
    runtime_version: `${r.u16(at + 4, w)}.${r.u16(at + 6, w)}`,
    flags: { value: hex(flags, 8), names: flagNames(flags, COMIMAGE_FLAGS) },
    ...(flags & 0x10 ? { entry_point_rva: entry } : { entry_point_token: hex(entry, 8) }),
    metadata: { ...meta, version: null },
  };
  for (const [key, o] of [["resources", 24], ["strong_name_signature", 32]] as const) {
    const d = range(o);
    if (d.rva && d.size) dotnet[key] = d;
  }
  const fix = range(48);
  if (fix.rva && fix.size) dotnet.vtable_fixups = fix;
  const resources: DotNetResource[] = [];
  const metaOff = rvaToOffset(h, meta.rva);
  if (metaOff === undefined) {
    errors.push(`CLR metadata: RVA ${hex(meta.rva)} is in no section`);
    return { dotnet, resources };
  }
  let md: ClrMetadata;
  try {
    md = parseMetadata(r, metaOff, meta.size);
  } catch (e) {
    errors.push(`CLR metadata: ${(e as Error).message}`);
    return { dotnet, resources };
  }
  errors.push(...md.errors.map((e) => `CLR metadata: ${e}`));
  dotnet.metadata.version = md.version;
  if (md.module) dotnet.module = md.module;
  if (md.assembly) dotnet.assembly = md.assembly;
  dotnet.assembly_refs = md.assembly_refs;
  if (md.module_refs.length) dotnet.module_refs = md.module_refs;
  if (md.pinvoke.length) dotnet.pinvoke = md.pinvoke;
  if (md.truncated.length) dotnet.truncated_tables = md.truncated;
  // Embedded resources: a u32 length then the bytes, at their offset in the resources range.
  const base = dotnet.resources ? rvaToOffset(h, dotnet.resources.rva) : undefined;
  if (md.manifest_resources.length) {
    dotnet.manifest_resources = md.manifest_resources.map((m) => {
      if (m.external || base === undefined || m.offset + 4 > dotnet.resources!.size) return m;
      const p = base + m.offset;
      if (!r.has(p, 4)) return m;
      const size = r.u32(p, "manifest resource length");
      const data = r.data.subarray(p + 4, Math.min(r.size, p + 4 + size));
      if (data.length < size) errors.push(`CLR resource ${m.name}: cut at the end of the file`);
      resources.push({ name: m.name, offset: p + 4, data });
      return { ...m, size }; // the child's sha256 is the hash worker's
    });
  }
  return { dotnet, resources };
}
