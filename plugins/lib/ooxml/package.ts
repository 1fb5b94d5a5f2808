/**
 * Reads the parts of an OPC package (ECMA-376 Part 2: the zip container of .docx/.xlsx/.pptx)
 * with fflate's synchronous unzip, which inflates only the members its filter picks: the few
 * small XML parts an analysis needs cost far less than zip.js's streams would. Part names are
 * compared case-insensitively, as OPC requires. Reads are capped per part and in total on the
 * declared sizes; fflate inflates into a buffer of the declared size, so a member that lies about
 * its size yields truncated data, never a larger allocation.
 */
import { unzipSync } from "fflate";
import { messageOf } from "../archive/common.ts";

/** A part of the package: its name as stored and its declared uncompressed size. */
export interface PartEntry {
  name: string;
  size: number;
}

/** Caps on what is read out of the package. */
export interface PackageLimits {
  maxPartSize: number;
  maxTotalRead: number;
  maxParts: number;
}

/** An opened package: its part list, and the parts loaded so far. */
export class OpcPackage {
  /** Parts skipped by a cap or a read error, with the reason. */
  readonly problems: string[] = [];
  readonly parts: PartEntry[] = [];
  truncated = false;
  private readonly byLower = new Map<string, PartEntry>();
  private readonly loaded = new Map<string, Uint8Array>();
  private read = 0;

  private constructor(
    private readonly content: Uint8Array,
    private readonly limits: PackageLimits,
  ) {}

  /**
   * Lists the package in `content` and loads the parts `wanted` accepts (lower-case names).
   * Throws a message naming the fault when it is not a readable zip.
   */
  static open(
    content: Uint8Array,
    limits: PackageLimits,
    wanted: (lowerName: string) => boolean,
  ): OpcPackage {
    const pkg = new OpcPackage(content, limits);
    pkg.unzip((name, size) => {
      if (pkg.parts.length >= limits.maxParts) {
        pkg.truncated = true;
        return false;
      }
      const entry = { name, size };
      if (!name.endsWith("/")) {
        pkg.parts.push(entry);
        pkg.byLower.set(name.toLowerCase(), entry);
      }
      return wanted(name.toLowerCase());
    }, true);
    return pkg;
  }

  /** Loads more parts by name (any case), in one pass over the zip directory. */
  load(names: Iterable<string>): void {
    const want = new Set<string>();
    for (const n of names) {
      const lower = n.replace(/^\//, "").toLowerCase();
      if (this.byLower.has(lower) && !this.loaded.has(lower)) want.add(lower);
    }
    if (want.size) this.unzip((name) => want.has(name.toLowerCase()), false);
  }

  private unzip(pick: (name: string, size: number) => boolean, first: boolean): void {
    let files: Record<string, Uint8Array>;
    try {
      files = unzipSync(this.content, {
        filter: (f) => {
          if (!pick(f.name, f.originalSize)) return false;
          if (f.compression !== 0 && f.compression !== 8) {
            this.problems.push(`${f.name}: compression method ${f.compression} is not supported`);
            return false;
          }
          const room = Math.min(this.limits.maxPartSize, this.limits.maxTotalRead - this.read);
          if (f.originalSize > room) {
            this.problems.push(`${f.name}: ${f.originalSize} bytes, over the read cap`);
            return false;
          }
          this.read += f.originalSize;
          return true;
        },
      });
    } catch (e) {
      if (first) throw new Error(`not a readable zip package: ${messageOf(e)}`);
      this.problems.push(`parts could not be read: ${messageOf(e)}`);
      return;
    }
    for (const [name, data] of Object.entries(files)) this.loaded.set(name.toLowerCase(), data);
  }

  /** Whether a part exists (name without a leading slash, any case). */
  has(name: string): boolean {
    return this.byLower.has(name.replace(/^\//, "").toLowerCase());
  }

  /** A loaded part's bytes, or undefined (missing, not loaded, over a cap or unreadable). */
  bytes(name: string): Uint8Array | undefined {
    return this.loaded.get(name.replace(/^\//, "").toLowerCase());
  }

  /** A loaded part as UTF-8 text (XML parts), or undefined. */
  text(name: string): string | undefined {
    const b = this.bytes(name);
    return b && new TextDecoder().decode(b);
  }
}
