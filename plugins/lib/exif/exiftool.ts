/**
 * ExifTool's batch mode (`exiftool -stay_open True -@ -`): one long-lived exiftool reads commands
 * from its stdin and ends each command's output with `{readyN}`. Perl and ExifTool's modules take
 * ~75 ms to start and a small file ~4 ms to read, so a resident process is ~20× faster.
 */
import type { CallContext, SpawnedProcess } from "../../../core/engine/plugin.ts";

const STDERR_KEEP = 4096;
/** How long `close()` lets exiftool finish on its own before killing it. */
const CLOSE_GRACE_MS = 2000;

interface Running {
  proc: SpawnedProcess;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  reader: ReadableStreamDefaultReader<Uint8Array>;
  decoder: TextDecoder;
  /** Decoded stdout not yet claimed by a command. */
  text: string;
  stderr: string;
  stderrDone: Promise<void>;
  exited: boolean;
}

/**
 * One resident exiftool, started on first use and started again after it died or was killed
 * because a call's signal aborted. Commands run one at a time, in call order.
 */
export class ExifToolBatch {
  #running?: Running;
  #tail: Promise<void> = Promise.resolve();
  #seq = 0;
  #closed = false;

  constructor(readonly maxOutput: number) {}

  /** The pid of the resident exiftool, if one is running (for tests and logs). */
  get pid(): number | undefined {
    return this.#running && !this.#running.exited ? this.#running.proc.pid : undefined;
  }

  /** Runs one exiftool command (`args`, one argument per item) and returns its stdout. */
  async run(call: CallContext, args: string[]): Promise<string> {
    for (const a of args) {
      // The argument file is line-based and strips leading blanks, so such an argument would
      // split or change; temp paths and fixed flags never look like this.
      if (/[\r\n]/.test(a) || a !== a.trimStart()) {
        throw new Error(`exiftool batch mode cannot pass the argument ${JSON.stringify(a)}`);
      }
    }
    const release = await this.#lock(call.signal);
    try {
      if (this.#closed) throw new Error("exif: the plugin was closed");
      let r = this.#running;
      if (!r || r.exited) {
        if (r) await this.#stop(r);
        r = this.#running = this.#start(call);
      }
      return await this.#command(r, args, call.signal);
    } finally {
      release();
    }
  }

  /** Asks exiftool to quit, kills it if it does not, and waits for it to be gone. */
  async close(): Promise<void> {
    this.#closed = true;
    const release = await this.#lock(new AbortController().signal);
    try {
      const r = this.#running;
      if (!r) return;
      this.#running = undefined;
      if (!r.exited) {
        await r.writer.write(new TextEncoder().encode("-stay_open\nFalse\n")).catch(() => {});
        await r.writer.close().catch(() => {});
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<void>((res) => timer = setTimeout(res, CLOSE_GRACE_MS));
        await Promise.race([r.proc.status, late]);
        clearTimeout(timer);
      }
      await this.#stop(r);
    } finally {
      release();
    }
  }

  /** Waits for earlier commands; gives up (keeping the order for later ones) if `signal` aborts. */
  async #lock(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    const before = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((res) => release = res);
    let onAbort!: () => void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      await Promise.race([before, aborted]);
      return release;
    } catch (e) {
      before.then(release);
      throw e;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  #start(call: CallContext): Running {
    const proc = call.spawn("exiftool", ["-stay_open", "True", "-@", "-"]);
    const r: Running = {
      proc,
      writer: proc.stdin.getWriter(),
      reader: proc.stdout.getReader(),
      decoder: new TextDecoder(),
      text: "",
      stderr: "",
      stderrDone: Promise.resolve(),
      exited: false,
    };
    r.stderrDone = (async () => {
      const dec = new TextDecoder();
      for await (const chunk of proc.stderr) {
        r.stderr = (r.stderr + dec.decode(chunk, { stream: true })).slice(-STDERR_KEEP);
      }
    })().catch(() => {});
    proc.status.then(() => r.exited = true);
    return r;
  }

  /** Kills `r` and waits until its process and pipes are gone. */
  async #stop(r: Running): Promise<void> {
    if (this.#running === r) this.#running = undefined;
    r.proc.kill();
    await Promise.allSettled([r.reader.cancel(), r.writer.abort(), r.proc.status, r.stderrDone]);
  }

  async #command(r: Running, args: string[], signal: AbortSignal): Promise<string> {
    // Nothing is sent yet, so a call that timed out while queued leaves exiftool alone.
    signal.throwIfAborted();
    const id = ++this.#seq;
    const marker = `{ready${id}}\n`;
    let onAbort!: () => void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const line = [...args, `-execute${id}`].join("\n") + "\n";
      // A failed write means exiftool is gone; the read below then says how it ended.
      const written = r.writer.write(new TextEncoder().encode(line)).catch(() => {});
      await Promise.race([written, aborted]);
      let bytes = 0;
      for (;;) {
        const at = r.text.indexOf(marker);
        if (at >= 0) {
          const out = r.text.slice(0, at);
          r.text = r.text.slice(at + marker.length);
          return out;
        }
        const { value, done } = await Promise.race([r.reader.read(), aborted]);
        if (done) {
          const status = await r.proc.status;
          throw new Error(
            `exiftool exited unexpectedly (${
              status.signal ? `signal ${status.signal}` : `exit ${status.code}`
            })${r.stderr.trim() ? `: ${r.stderr.trim()}` : ""}; it restarts on the next payload`,
          );
        }
        bytes += value.length;
        if (bytes > this.maxOutput) {
          throw new Error(`exiftool output exceeded ${this.maxOutput} bytes (option max_output)`);
        }
        r.text += r.decoder.decode(value, { stream: true });
      }
    } catch (e) {
      // Killed on timeout, too much output or a broken pipe: the next call starts afresh.
      await this.#stop(r);
      throw e;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}
