/**
 * What the imap provider remembers across restarts, per mailbox: its UIDVALIDITY (RFC 9051
 * §2.3.1.1: UIDs are only meaningful together with it), the UIDs whose results are safe, those of
 * them whose after-scan action (mark, move, delete) is still to be done, and the UIDs given up for
 * good (over max_payload_size). Kept in a JSONL journal (lib/journal.ts); UIDs are stored as IMAP
 * sequence sets (`1:500,502`), so a mailbox of a million scanned messages takes one short line.
 */
import { JsonlJournal } from "./journal.ts";

/** A set of UIDs as sorted, disjoint, non-adjacent ranges. */
export class UidSet {
  readonly #r: [number, number][] = [];

  /** Reads `1:5,7,9:12`; parts that are not UIDs or ranges of them are skipped. */
  static parse(text: string): UidSet {
    const s = new UidSet();
    for (const part of text.split(",")) {
      const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(part.trim());
      if (!m) continue;
      const a = Number(m[1]), b = Number(m[2] ?? m[1]);
      s.addRange(Math.min(a, b), Math.max(a, b));
    }
    return s;
  }

  /** Index of the last range starting at or before `uid`, or -1. */
  #find(uid: number): number {
    let lo = 0, hi = this.#r.length - 1, at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.#r[mid][0] <= uid) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return at;
  }

  has(uid: number): boolean {
    const i = this.#find(uid);
    return i >= 0 && uid <= this.#r[i][1];
  }

  add(uid: number): void {
    this.addRange(uid, uid);
  }

  /** Adds every UID from `lo` to `hi`, merging ranges that touch. */
  addRange(lo: number, hi: number): void {
    let i = this.#find(lo);
    if (i >= 0 && this.#r[i][1] + 1 >= lo) {
      this.#r[i][1] = Math.max(this.#r[i][1], hi);
    } else {
      i++;
      this.#r.splice(i, 0, [lo, hi]);
    }
    // Swallow the ranges the grown one now reaches.
    while (i + 1 < this.#r.length && this.#r[i + 1][0] <= this.#r[i][1] + 1) {
      this.#r[i][1] = Math.max(this.#r[i][1], this.#r[i + 1][1]);
      this.#r.splice(i + 1, 1);
    }
  }

  /** The ranges, lowest first. */
  ranges(): readonly (readonly [number, number])[] {
    return this.#r;
  }

  /** How many UIDs it holds. */
  get size(): number {
    return this.#r.reduce((n, [lo, hi]) => n + hi - lo + 1, 0);
  }

  toString(): string {
    return this.#r.map(([lo, hi]) => lo === hi ? `${lo}` : `${lo}:${hi}`).join(",");
  }
}

/** One mailbox's state under one UIDVALIDITY. */
export interface MailboxState {
  uidvalidity: string;
  /** Results safe (or given up for good: `failed`). */
  done: UidSet;
  /** Done, but the after-scan action is still to be applied. */
  pending: Set<number>;
  /** Given up for good, with why. */
  failed: Map<number, string>;
}

/** The journal of every watched mailbox of one account. */
export class ImapState {
  readonly #boxes = new Map<string, MailboxState>();
  readonly #file: JsonlJournal;

  constructor(path: string, readonly account: string) {
    this.#file = new JsonlJournal(path);
  }

  /** Reads the journal (if any) and rewrites it compactly. */
  load(): void {
    for (const rec of this.#file.read()) {
      const name = rec.box, v = rec.uidvalidity;
      if (typeof name !== "string" || typeof v !== "string") continue;
      let b = this.#boxes.get(name);
      if (!b || b.uidvalidity !== v) {
        // A line of an older UIDVALIDITY than the one recorded since is stale.
        if (b && !("reset" in rec) && !("compact" in rec)) continue;
        b = fresh(v);
        this.#boxes.set(name, b);
      }
      if (typeof rec.done === "number") b.done.add(rec.done);
      else if (typeof rec.done === "string") {
        for (const [lo, hi] of UidSet.parse(rec.done).ranges()) b.done.addRange(lo, hi);
      }
      if (typeof rec.skipped === "number") b.done.addRange(1, rec.skipped);
      if (Array.isArray(rec.pending)) {
        for (const u of rec.pending) if (typeof u === "number") b.pending.add(u);
      } else if (rec.pending === true && typeof rec.done === "number") b.pending.add(rec.done);
      if (Array.isArray(rec.applied)) { for (const u of rec.applied) b.pending.delete(u); }
      if (typeof rec.failed === "number") {
        b.done.add(rec.failed);
        b.failed.set(rec.failed, String(rec.reason ?? ""));
      } else if (rec.failed && typeof rec.failed === "object") {
        for (const [u, why] of Object.entries(rec.failed)) {
          if (/^\d+$/.test(u)) b.failed.set(Number(u), String(why));
        }
      }
    }
    this.compact();
  }

  /** The state of `box`, if it was ever seen. */
  get(box: string): MailboxState | undefined {
    return this.#boxes.get(box);
  }

  /**
   * Records the UIDVALIDITY the server gives for `box` now. Returns the one recorded before when
   * it differs (the folder was renumbered: everything recorded for it was dropped).
   */
  validity(box: string, uidvalidity: string): string | undefined {
    const b = this.#boxes.get(box);
    if (b?.uidvalidity === uidvalidity) return undefined;
    this.#boxes.set(box, fresh(uidvalidity));
    this.#append({ box, uidvalidity, reset: true });
    return b?.uidvalidity;
  }

  /** Records that `uid` has a safe result; with `pending`, its after-scan action is still due. */
  done(box: string, uidvalidity: string, uid: number, scan_id: string, pending: boolean): void {
    const b = this.#current(box, uidvalidity);
    if (!b) return;
    b.done.add(uid);
    if (pending) b.pending.add(uid);
    this.#append({ box, uidvalidity, done: uid, scan_id, ...(pending ? { pending } : {}) });
  }

  /** Records every UID up to `last` as done without a scan (skip_existing). */
  skip(box: string, uidvalidity: string, last: number): void {
    const b = this.#current(box, uidvalidity);
    if (!b || last < 1) return;
    b.done.addRange(1, last);
    this.#append({ box, uidvalidity, skipped: last });
  }

  /** Records that the after-scan action of `uids` was applied. */
  applied(box: string, uidvalidity: string, uids: number[]): void {
    const b = this.#current(box, uidvalidity);
    if (!b || !uids.length) return;
    for (const u of uids) b.pending.delete(u);
    this.#append({ box, uidvalidity, applied: uids });
  }

  /** Records that `uid` is given up for good (it is not fetched again). */
  failed(box: string, uidvalidity: string, uid: number, reason: string): void {
    const b = this.#current(box, uidvalidity);
    if (!b) return;
    b.done.add(uid);
    b.failed.set(uid, reason);
    this.#append({ box, uidvalidity, failed: uid, reason });
  }

  #current(box: string, uidvalidity: string): MailboxState | undefined {
    const b = this.#boxes.get(box);
    // A delivery from before a UIDVALIDITY change: its UID means nothing now.
    return b?.uidvalidity === uidvalidity ? b : undefined;
  }

  #live(): number {
    let n = this.#boxes.size;
    for (const b of this.#boxes.values()) n += b.pending.size + b.failed.size;
    return n;
  }

  #append(rec: Record<string, unknown>): void {
    if (this.#file.append(rec, this.#live())) this.compact();
  }

  /** Rewrites the journal with one line per mailbox. */
  compact(): void {
    const lines: Record<string, unknown>[] = [{ imap: 1, account: this.account }];
    for (const [box, b] of this.#boxes) {
      lines.push({
        box,
        uidvalidity: b.uidvalidity,
        compact: true,
        done: b.done.toString(),
        pending: [...b.pending].sort((x, y) => x - y),
        failed: Object.fromEntries(b.failed),
      });
    }
    this.#file.rewrite(lines);
  }
}

function fresh(uidvalidity: string): MailboxState {
  return { uidvalidity, done: new UidSet(), pending: new Set(), failed: new Map() };
}
