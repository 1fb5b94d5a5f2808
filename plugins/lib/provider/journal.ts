/**
 * The state file of a provider that must survive restarts (dirmon, imap): an append-only journal
 * of JSON lines, so recording one item costs one small write, rewritten whole (temp file, then
 * rename) at start and whenever it has grown well past what it holds. A torn last line (a crash
 * mid-write) is skipped when it is read back.
 */
export class JsonlJournal {
  #lines = 0;

  constructor(readonly path: string) {}

  /** The records in the file (none when it does not exist yet), in the order written. */
  read(): Record<string, unknown>[] {
    let text = "";
    try {
      text = Deno.readTextFileSync(this.path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const out: Record<string, unknown>[] = [];
    for (const line of text.split("\n")) {
      try {
        const rec = JSON.parse(line);
        if (rec && typeof rec === "object" && !Array.isArray(rec)) out.push(rec);
      } catch {
        // torn or empty line
      }
    }
    return out;
  }

  /**
   * Adds one record. Returns true once the file holds more than `1000 + 2 * live` lines, `live`
   * being how many lines a rewrite would need: time for the caller to `rewrite` it.
   */
  append(rec: Record<string, unknown>, live: number): boolean {
    Deno.writeTextFileSync(this.path, JSON.stringify(rec) + "\n", { append: true });
    return ++this.#lines > 1000 + 2 * live;
  }

  /** Replaces the whole file with `recs`, atomically. */
  rewrite(recs: Iterable<Record<string, unknown>>): void {
    const dir = this.path.slice(0, this.path.lastIndexOf("/"));
    if (dir) Deno.mkdirSync(dir, { recursive: true });
    const lines = [...recs].map((r) => JSON.stringify(r));
    const tmp = `${this.path}.${crypto.randomUUID()}.tmp`;
    try {
      Deno.writeTextFileSync(tmp, lines.join("\n") + "\n");
      Deno.renameSync(tmp, this.path);
    } catch (e) {
      try {
        Deno.removeSync(tmp);
      } catch { /* never written */ }
      throw e;
    }
    this.#lines = lines.length;
  }
}
