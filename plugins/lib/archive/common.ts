/** Shared bookkeeping for the `decompress` extractors: size caps, extracted members, drops. */
import { createHash } from "node:crypto";

import type { Payload } from "../../../core/engine/plugin.ts";

/** The extraction caps, in members and bytes. */
export interface Limits {
  maxMembers: number;
  maxMemberSize: number;
  maxTotalSize: number;
}

/** An extracted member: its name as stored in the archive (metadata only) and its bytes. */
export interface Member {
  name: string;
  content: Uint8Array;
}

/** What an extractor learnt about encryption, for the results. */
export interface CryptoInfo {
  encrypted: boolean;
  /** The password that opened the archive, when one was needed and one worked. */
  password?: string;
}

const SHOWN_NAMES = 10;
/** Smaller members are not worth a digest to share: copies of them cost little memory. */
const SHARE_FROM = 64 * 1024;

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
/** Most links and special files listed in a result. */
const MAX_LISTED = 1000;

/** A member that is not a file: a link, or a FIFO, device or socket that holds no data. */
export interface OtherMember {
  name: string;
  type: "symlink" | "hardlink" | "fifo" | "character device" | "block device" | "socket" | "other";
  target?: string;
}

/** Lists names for a message, truncating long lists with "and N more". */
export function listNames(names: readonly string[], total = names.length): string {
  const shown = names.slice(0, SHOWN_NAMES).map((n) => JSON.stringify(n)).join(", ");
  return total > SHOWN_NAMES ? `${shown} and ${total - SHOWN_NAMES} more` : shown;
}

/**
 * Collects the members of one archive and enforces the caps. Members that are not extracted
 * are grouped by reason, so that the response carries one error per reason naming them.
 */
export class Collector {
  readonly members: Member[] = [];
  private total = 0;
  private readonly skipped = new Map<string, { names: string[]; count: number }>();
  private readonly notes: string[] = [];
  /** Members that hold no file of their own: links (with their target) and empty FIFOs or
   * devices; listed in the results so that none vanishes without a word. */
  readonly entries: OtherMember[] = [];
  /** How many such members there were (the list stops at {@link MAX_LISTED}). */
  otherCount = 0;

  constructor(readonly limits: Limits) {}

  /** Records a link or special file that has no content to extract. */
  other(name: string, type: OtherMember["type"], target?: string): void {
    this.otherCount++;
    if (this.entries.length < MAX_LISTED) {
      this.entries.push(target === undefined ? { name, type } : { name, type, target });
    }
  }

  /** Whether the max_members cap is reached. */
  get full(): boolean {
    return this.members.length >= this.limits.maxMembers;
  }

  /** Bytes extracted so far. */
  get extractedBytes(): number {
    return this.total;
  }

  /** The most bytes the next member may have, and the reason to give when it has more. */
  room(): { bytes: number; reason: string } {
    const left = this.limits.maxTotalSize - this.total;
    return left < this.limits.maxMemberSize
      ? { bytes: left, reason: this.reasonTotal() }
      : { bytes: this.limits.maxMemberSize, reason: this.reasonSize() };
  }

  /** The reason for a member dropped by the max_members cap. */
  reasonCount(): string {
    return `max_members (${this.limits.maxMembers}) reached`;
  }

  /** The reason for a member dropped by the max_member_size cap. */
  reasonSize(): string {
    return `larger than max_member_size (${this.limits.maxMemberSize} bytes)`;
  }

  /** The reason for a member dropped by the max_total_size cap. */
  reasonTotal(): string {
    return `max_total_size (${this.limits.maxTotalSize} bytes) reached`;
  }

  /** Records an extracted member. */
  add(name: string, content: Uint8Array): void {
    this.total += content.length;
    // Members with the same bytes (a bomb's favourite: one block of zeros under many names)
    // share one buffer: the caps count what was produced, memory holds each content once.
    const same = this.bySize.get(content.length);
    if (same && content.length >= SHARE_FROM) {
      const digest = sha256(content);
      const twin = same.find((m) => (m.digest ??= sha256(m.content)) === digest);
      if (twin) {
        this.members.push({ name, content: twin.content });
        return;
      }
      const member = { name, content, digest };
      same.push(member);
      this.members.push(member);
      return;
    }
    const member: Member & { digest?: string } = { name, content };
    if (same) same.push(member);
    else this.bySize.set(content.length, [member]);
    this.members.push(member);
  }
  /** Members by size, for finding twins; a digest is taken only once two sizes are equal. */
  private readonly bySize = new Map<number, (Member & { digest?: string })[]>();

  /** Records a member that was not extracted, and why. */
  skip(name: string, reason: string): void {
    let group = this.skipped.get(reason);
    if (!group) this.skipped.set(reason, group = { names: [], count: 0 });
    if (group.names.length < SHOWN_NAMES) group.names.push(name);
    group.count++;
  }

  /** Whether an archive-level error was recorded. */
  get noted(): boolean {
    return this.notes.length > 0;
  }

  /** Records an error about the archive as a whole. */
  note(message: string): void {
    this.notes.push(message);
  }

  /** The response errors: archive-level notes, then one line per skip reason. */
  errors(prefix: string): string[] {
    const out = this.notes.map((n) => `${prefix}: ${n}`);
    for (const [reason, { names, count }] of this.skipped) {
      const what = count === 1 ? "1 member" : `${count} members`;
      out.push(`${prefix}: ${reason}: ${what} not extracted: ${listNames(names, count)}`);
    }
    return out;
  }
}

/** Throws the abort reason when `signal` is aborted (so timeouts surface as themselves). */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
}

/**
 * Reads `source` to the end into one array, or returns null as soon as it yields more than
 * `cap` bytes (the source is then cancelled). Checks `signal` between chunks.
 */
export async function collectCapped(
  source: AsyncIterable<Uint8Array>,
  cap: number,
  signal: AbortSignal,
): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of source) {
    throwIfAborted(signal);
    total += chunk.length;
    if (total > cap) return null; // leaving the loop cancels the source
    chunks.push(chunk);
  }
  return concat(chunks, total);
}

/** Concatenates chunks whose lengths add up to `total`. */
export function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  // A single chunk is returned as a plain view (zlib hands out Buffers).
  if (chunks.length === 1) return new Uint8Array(chunks[0].buffer, chunks[0].byteOffset, total);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** An error's message, for error strings. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The payload's own passwords (`extra_data.passwords`, a list or one string), then ours. */
export function passwordsFor(payload: Payload, defaults: readonly string[]): string[] {
  const own = payload.results.payload_meta.extra_data.passwords;
  const list = typeof own === "string"
    ? [own]
    : Array.isArray(own)
    ? own.filter((p): p is string => typeof p === "string")
    : [];
  return [...new Set([...list, ...defaults])];
}
