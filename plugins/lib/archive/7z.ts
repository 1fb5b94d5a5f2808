/**
 * Extraction with the 7z tool, for every format 7-Zip reads that we do not read in-process.
 *
 * Nothing is extracted to disk. The archive is written to a private temp dir (0700, removed in
 * `finally`), listed with `7z l -slt` to plan within the caps, and the planned members are
 * streamed with `7z x -so` into memory: 7-Zip writes each member's bytes back to back, in
 * listing order, each exactly its listed size, so the stream is cut by those sizes and every
 * piece checked against its listed CRC when there is one. `call.exec`'s output cap is set to the
 * planned total, so an archive that produces more than it declares gets 7z killed instead of
 * filling memory. Because no member ever becomes a file, member names (`../../x`), symlinks
 * (to `/etc/passwd` or elsewhere), devices and FIFOs can neither write outside the temp dir nor
 * make us read a host file; symlinks and other non-regular members are skipped.
 */
import type { CallContext } from "../../../core/engine/plugin.ts";
import { type Collector, type CryptoInfo, messageOf, throwIfAborted } from "./common.ts";
import { noPasswordReason } from "./zip.ts";

/** One member as `7z l -slt` lists it. */
export interface SevenZipEntry {
  /** Path as stored ("" for single-stream formats, which list no path). */
  path: string;
  kind: "file" | "directory" | "link";
  /** For a link: symlink or hardlink, and the target when 7z lists it. */
  link?: { type: "symlink" | "hardlink"; target?: string };
  /** Listed size; null when the format does not know it before decompressing (zstd, Z). */
  size: number | null;
  crc: number | null;
  encrypted: boolean;
}

/** Parses the technical listing of `7z l -slt` (the part after the `----------` line). */
export function parseListing(text: string): SevenZipEntry[] {
  const start = text.indexOf("\n----------\n");
  if (start === -1) return [];
  const entries: SevenZipEntry[] = [];
  for (const block of text.slice(start + 12).split(/\n[ \t]*\n/)) {
    const props = new Map<string, string>();
    for (const line of block.split("\n")) {
      const m = /^([^=]+?) = ?(.*)$/.exec(line);
      if (m) props.set(m[1], m[2]);
    }
    if (!props.has("Path") && !props.has("Size")) continue;
    const attributes = props.get("Attributes") ?? "";
    const windows = /^[A-Z]*/.exec(attributes)?.[0] ?? "";
    const unixType = /(?:^|\s)([-dlcbps])[rwxsStT-]{9}/.exec(attributes)?.[1];
    // FIFO, device and socket modes are files here: 7z x writes their data as such (a member
    // `7z a -si` read from a pipe has FIFO bits).
    let kind: SevenZipEntry["kind"] = "file";
    let link: SevenZipEntry["link"];
    if (props.get("Folder") === "+" || windows.includes("D") || unixType === "d") {
      kind = "directory";
    } else if (unixType === "l" || props.get("Symbolic Link")) {
      kind = "link";
      link = { type: "symlink", target: props.get("Symbolic Link") || undefined };
    } else if (props.get("Hard Link")) {
      kind = "link";
      link = { type: "hardlink", target: props.get("Hard Link") };
    }
    const size = props.get("Size") ?? "";
    const crc = props.get("CRC") ?? "";
    entries.push({
      path: props.get("Path") ?? "",
      kind,
      ...(link ? { link } : {}),
      size: /^\d+$/.test(size) ? Number(size) : null,
      crc: /^[0-9A-Fa-f]{8}$/.test(crc) ? parseInt(crc, 16) : null,
      encrypted: props.get("Encrypted") === "+",
    });
  }
  return entries;
}

const WRONG_PASSWORD = /wrong password|can ?not open encrypted archive/i;
// What 7z says when it lists a member whose codec it lacks (Debian's build has no RAR codec).
const UNSUPPORTED_METHOD = /unsupported method/i;

/** The gist of 7z's messages: the error lines, without banners, shortened. */
function gist(text: string, archive: string): string {
  const lines = text.split("\n").map((l) => l.split(archive).join("<archive>").trim())
    .filter((l) => l !== "" && !/^(ERRORS|WARNINGS):$/.test(l))
    .filter((l) => !/^(7-Zip|p7zip|Scanning|Listing|Extracting|\d+ files?,)/.test(l));
  const out = [...new Set(lines)].join("; ") || "no message";
  return out.length > 300 ? `${out.slice(0, 300)}…` : out;
}

/** The ERRORS/WARNINGS sections `7z l` prints on stdout about the archive itself. */
function listingProblems(stdout: string): string {
  const found: string[] = [];
  let inSection = false;
  for (const line of stdout.split("\n")) {
    if (/^(ERRORS|WARNINGS):$/.test(line.trim())) inSection = true;
    else if (line.trim() === "" || line.includes(" = ")) inSection = false;
    else if (inSection) found.push(line.trim());
  }
  return found.join("\n");
}

const isOverflow = (e: unknown) => /output exceeded/.test(messageOf(e));

/** Options for {@link extractWith7z}. */
export interface SevenZipOptions {
  passwords: readonly string[];
  /** Name to give a member whose path the format does not store (single-stream formats). */
  unnamed: string;
  /** The format's name, for messages. */
  format: string;
}

/**
 * Extracts the regular-file members of `content` with 7z into `col`. Archive-level failures
 * are recorded with `col.note`; abort errors are thrown.
 */
export async function extractWith7z(
  content: Uint8Array,
  col: Collector,
  call: CallContext,
  opts: SevenZipOptions,
): Promise<CryptoInfo> {
  return await call.withTempFile(content, (archive) => {
    const dir = archive.slice(0, archive.lastIndexOf("/"));
    return new SevenZipRun(col, call, opts, dir, archive).run();
  });
}

type RunResult = { code: number; stdout: Uint8Array; stderr: string } | "overflow";

class SevenZipRun {
  private listPassword: string | undefined;
  private readonly info: CryptoInfo = { encrypted: false };

  constructor(
    private readonly col: Collector,
    private readonly call: CallContext,
    private readonly opts: SevenZipOptions,
    private readonly dir: string,
    private readonly archive: string,
  ) {}

  private async exec(args: string[], maxOutput?: number, expected?: number): Promise<RunResult> {
    try {
      // -y: never ask; -bd: no progress; -p always, so 7z never prompts for a password.
      return await this.call.exec("7z", [...args, "-y", "-bd", "--", this.archive], {
        cwd: this.dir,
        maxOutput,
        expectedOutput: expected,
      });
    } catch (e) {
      throwIfAborted(this.call.signal);
      if (isOverflow(e)) return "overflow";
      throw e;
    }
  }

  private gist(text: string): string {
    return gist(text, this.archive);
  }

  /** Why a `7z x` run extracted nothing, from its messages. */
  private failure(stderr: string): string {
    if (!UNSUPPORTED_METHOD.test(stderr)) {
      return `could not be extracted (7z: ${this.gist(stderr)})`;
    }
    if (this.opts.format === "rar") {
      return "7z cannot extract rar here: this 7z lacks the RAR codec (Debian's p7zip-full is " +
        "built without it; put a 7z that has the codec on PATH to read compressed RAR members)";
    }
    return `7z cannot extract them: this 7z lacks their compression method (7z: ${
      this.gist(stderr)
    })`;
  }

  async run(): Promise<CryptoInfo> {
    const entries = await this.list();
    if (!entries) return this.info;
    this.info.encrypted ||= entries.some((e) => e.encrypted);
    const outputs = entries.filter((e) => e.kind !== "directory");
    // A compress.exe (SZDD) member is named by 7z after the file it reads: our temporary copy.
    const name = (e: SevenZipEntry) =>
      (this.opts.format === "szdd" ? "" : e.path) || this.opts.unnamed;
    // Plan within the caps from the listed sizes; real sizes are enforced while extracting.
    const batch: SevenZipEntry[] = [];
    const unsized: SevenZipEntry[] = [];
    let count = this.col.members.length;
    let bytes = this.col.extractedBytes;
    for (const e of outputs) {
      if (e.kind === "link") {
        this.col.other(name(e), e.link!.type, e.link!.target);
        continue;
      }
      if (count >= this.col.limits.maxMembers) {
        this.col.skip(name(e), this.col.reasonCount());
        continue;
      }
      // A listed size within the caps goes into the one streamed batch; a larger one may be a
      // lie (a header claiming 4 GB over 1,000 bytes), so that member is extracted alone with
      // the cap on the bytes 7z really produces.
      const fits = e.size !== null && e.size <= this.col.limits.maxMemberSize &&
        bytes + e.size <= this.col.limits.maxTotalSize;
      if (fits) {
        bytes += e.size!;
        batch.push(e);
      } else unsized.push(e);
      count++;
    }
    if (batch.length > 0) await this.extractBatch(outputs, batch, name);
    for (const e of unsized) await this.extractUnsized(outputs, e, name);
    return this.info;
  }

  /** Lists the archive, trying the passwords when its headers are encrypted. */
  private async list(): Promise<SevenZipEntry[] | null> {
    let attempt = await this.exec(["l", "-slt", "-p"]);
    if (attempt !== "overflow" && WRONG_PASSWORD.test(attempt.stderr)) {
      this.info.encrypted = true;
      for (const pw of this.opts.passwords) {
        attempt = await this.exec(["l", "-slt", `-p${pw}`]);
        if (attempt === "overflow" || !WRONG_PASSWORD.test(attempt.stderr)) {
          this.listPassword = pw;
          break;
        }
      }
      if (this.listPassword === undefined) {
        this.col.note(
          `the ${this.opts.format} archive is ${noPasswordReason(this.opts.passwords.length)}`,
        );
        return null;
      }
    }
    if (attempt === "overflow") {
      this.col.note("the archive's listing is too large to read");
      return null;
    }
    const stdout = new TextDecoder().decode(attempt.stdout);
    const entries = parseListing(stdout);
    if (attempt.code !== 0) {
      const why = this.gist(`${attempt.stderr}\n${listingProblems(stdout)}`);
      if (entries.length === 0) {
        this.col.note(`7z could not read the ${this.opts.format} archive: ${why}`);
        return null;
      }
      this.col.note(`7z reported problems reading the ${this.opts.format} archive: ${why}`);
    }
    return entries;
  }

  /** The passwords to try for members: none needed, or the list (header password first). */
  private candidates(encrypted: boolean): string[] {
    if (!encrypted) return [this.listPassword ?? ""];
    const first = this.listPassword === undefined ? [] : [this.listPassword];
    return [...new Set([...first, ...this.opts.passwords])];
  }

  /** Streams the planned members with one `7z x -so` and cuts the stream by listed sizes. */
  private async extractBatch(
    outputs: SevenZipEntry[],
    batch: SevenZipEntry[],
    name: (e: SevenZipEntry) => string,
  ): Promise<void> {
    const planned = new Set(batch);
    let selection: string[] | null = null;
    let stream = outputs;
    if (outputs.some((e) => !planned.has(e))) {
      // Select by name (-spd: no wildcards). A name 7z cannot be given, or one shared with a
      // member we must not extract, cannot be selected alone.
      const unplannedNames = new Set(outputs.filter((e) => !planned.has(e)).map((e) => e.path));
      for (const e of batch) {
        if (/[\r\n]/.test(e.path) || e.path === "" || unplannedNames.has(e.path)) {
          planned.delete(e);
          this.col.skip(name(e), "could not be selected for extraction by name");
        }
      }
      selection = [...new Set([...planned].map((e) => e.path))];
      if (selection.length === 0) return;
      const names = new Set(selection);
      stream = outputs.filter((e) => names.has(e.path));
    }
    const expected = stream.reduce((n, e) => n + (e.size ?? 0), 0);
    if (stream.some((e) => e.size === null)) {
      for (const e of planned) {
        this.col.skip(name(e), "shares its name with a member of unknown size");
      }
      return;
    }
    const args = ["x", "-so", "-spd"];
    if (selection) {
      const listfile = `${this.dir}/selection.txt`;
      await Deno.writeTextFile(listfile, selection.join("\n") + "\n", { mode: 0o600 });
      args.push("-scsUTF-8", `-i@${listfile}`);
    }
    const encrypted = stream.some((e) => e.encrypted);
    const candidates = this.candidates(encrypted);
    let failure = noPasswordReason(candidates.length);
    for (const pw of candidates) {
      const r = await this.exec([...args, `-p${pw}`], expected, expected);
      if (r === "overflow") {
        failure = "7z produced more data than the archive lists; nothing extracted";
        break;
      }
      if (r.code === 0 && r.stdout.length !== expected) {
        failure = "7z's output does not match the sizes the archive lists; nothing extracted";
        break;
      }
      if (r.stdout.length === expected) {
        const ok = await this.cut(r.stdout, stream, planned, name, r.code === 0);
        if (ok) {
          if (encrypted) this.info.password = pw;
          if (r.code !== 0) this.col.note(`7z reported: ${this.gist(r.stderr)}`);
          return;
        }
      }
      if (!(encrypted && WRONG_PASSWORD.test(r.stderr))) {
        failure = this.failure(r.stderr);
        break;
      }
    }
    for (const e of planned) this.col.skip(name(e), failure);
  }

  /**
   * Cuts `data` into the members of `stream` and keeps the planned ones whose CRC matches (or
   * that have none, after a clean run). Returns false, keeping nothing, when a failed run left
   * nothing verifiable, so that the caller can try the next password.
   */
  private async cut(
    data: Uint8Array,
    stream: SevenZipEntry[],
    planned: Set<SevenZipEntry>,
    name: (e: SevenZipEntry) => string,
    clean: boolean,
  ): Promise<boolean> {
    const { crc32 } = await import("node:zlib");
    const good: [SevenZipEntry, Uint8Array][] = [];
    const bad: SevenZipEntry[] = [];
    let offset = 0;
    for (const e of stream) {
      const piece = data.subarray(offset, offset + e.size!);
      offset += e.size!;
      if (!planned.has(e)) continue;
      if (e.crc === null ? clean : crc32(piece) >>> 0 === e.crc) good.push([e, piece]);
      else bad.push(e);
    }
    if (!clean && good.length === 0) return false;
    for (const [e, piece] of good) this.col.add(name(e), piece);
    for (const e of bad) this.col.skip(name(e), "failed its CRC check");
    return true;
  }

  /** Extracts one member whose size is not listed, capped by the room left. */
  private async extractUnsized(
    outputs: SevenZipEntry[],
    e: SevenZipEntry,
    name: (e: SevenZipEntry) => string,
  ): Promise<void> {
    const alone = outputs.length === 1;
    if (!alone && (e.path === "" || outputs.filter((o) => o.path === e.path).length > 1)) {
      this.col.skip(name(e), "could not be selected for extraction by name");
      return;
    }
    const room = this.col.room();
    const args = ["x", "-so", "-spd"];
    if (!alone) {
      const listfile = `${this.dir}/selection.txt`;
      await Deno.writeTextFile(listfile, e.path + "\n", { mode: 0o600 });
      args.push("-scsUTF-8", `-i@${listfile}`);
    }
    const candidates = this.candidates(e.encrypted);
    let failure = noPasswordReason(candidates.length);
    for (const pw of candidates) {
      const r = await this.exec([...args, `-p${pw}`], room.bytes);
      if (r === "overflow") {
        failure = room.reason;
        break;
      }
      if (r.code === 0) {
        if (e.encrypted) this.info.password = pw;
        this.col.add(name(e), r.stdout);
        return;
      }
      // Data that ends before the size its header states: keep what there is, and say so.
      if (!e.encrypted && r.stdout.length > 0 && e.size !== null && r.stdout.length < e.size) {
        this.col.add(name(e), r.stdout);
        this.col.note(
          `member ${
            JSON.stringify(name(e))
          }: it lists ${e.size} bytes but 7z read ${r.stdout.length} ` +
            `before the data ended (7z: ${this.gist(r.stderr)}); what was read was kept`,
        );
        return;
      }
      if (!(e.encrypted && WRONG_PASSWORD.test(r.stderr))) {
        failure = this.failure(r.stderr);
        break;
      }
    }
    this.col.skip(name(e), failure);
  }
}
