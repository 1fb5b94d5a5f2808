/** Runs external tools safely: argument arrays only, killed on abort, output capped. */

/** Result of running an external tool. */
export interface ExecResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/** Options for running an external tool. */
export interface ExecOptions {
  /** Bytes written to the tool's stdin. */
  stdin?: Uint8Array;
  cwd?: string;
  /** Largest stdout kept, in bytes; more is an error (default 64 MiB). */
  maxOutput?: number;
  /**
   * How many bytes stdout is expected to hold (e.g. the sizes an archive lists): read into one
   * buffer of that size, so a large output is held once rather than as chunks plus a copy.
   */
  expectedOutput?: number;
  env?: Record<string, string>;
}

/** Options for starting a long-lived tool process. */
export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
}

/** A long-lived tool process started with `call.spawn`; whoever started it ends it. */
export interface SpawnedProcess {
  readonly pid: number;
  readonly stdin: WritableStream<Uint8Array>;
  /** Read stdout and stderr to the end: a tool blocks once a pipe it writes to is full. */
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  /** Settles when the process has exited; `signal` names the signal that ended it, if any. */
  readonly status: Promise<{ code: number; signal: string | null }>;
  /** Kills the process (SIGKILL); does nothing once it has exited. */
  kill(): void;
}

const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;
const STDERR_KEEP = 64 * 1024;

/** Thrown when a tool is not installed; the message names the Debian package to install. */
export class ToolMissingError extends Error {}

/** Thrown when a tool is run that its plugin did not declare in `tools`. */
export class ToolNotDeclaredError extends Error {}

async function readCapped(
  stream: ReadableStream<Uint8Array>,
  max: number,
  what: string,
  expected = 0,
): Promise<Uint8Array> {
  // Into the expected size while it holds; chunks (joined once at the end) past it.
  const first = new Uint8Array(Math.min(expected, max));
  let filled = 0;
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > max) throw new Error(`${what} exceeded ${max} bytes`);
    if (chunks.length === 0 && filled + chunk.length <= first.length) {
      first.set(chunk, filled);
      filled += chunk.length;
    } else chunks.push(chunk);
  }
  if (chunks.length === 0) return filled === first.length ? first : first.subarray(0, filled);
  const out = new Uint8Array(total);
  out.set(first.subarray(0, filled));
  let off = filled;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

async function readTail(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const dec = new TextDecoder();
  for await (const chunk of stream) {
    text += dec.decode(chunk, { stream: true });
    if (text.length > STDERR_KEEP * 2) text = text.slice(-STDERR_KEEP);
  }
  return text.slice(-STDERR_KEEP);
}

/** Starts a declared tool; a missing or forbidden one throws an error saying what to do. */
function startTool(
  tools: Readonly<Record<string, string>>,
  tool: string,
  args: string[],
  options: Deno.CommandOptions,
): Deno.ChildProcess {
  if (!Object.hasOwn(tools, tool)) {
    throw new ToolNotDeclaredError(`tool ${tool} is not declared in the plugin's tools`);
  }
  try {
    return new Deno.Command(tool, { ...options, args }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ToolMissingError(
        `${tool} is not installed: install the Debian package ${tools[tool]} (apt-get install ${
          tools[tool]
        })`,
      );
    }
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new ToolMissingError(
        `running ${tool} is not permitted: start stoq with --allow-run=${tool}`,
      );
    }
    throw e;
  }
}

/**
 * Runs `tool` with `args`. `tools` maps each tool the plugin declared to its Debian package.
 * The process is killed (SIGKILL) as soon as `signal` aborts.
 */
export async function execTool(
  tools: Readonly<Record<string, string>>,
  tool: string,
  args: string[],
  signal: AbortSignal,
  options: ExecOptions = {},
): Promise<ExecResult> {
  signal.throwIfAborted();
  const child = startTool(tools, tool, args, {
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  signal.addEventListener("abort", kill, { once: true });
  try {
    const writing = options.stdin ? writeAll(child.stdin, options.stdin) : Promise.resolve();
    const max = options.maxOutput ?? DEFAULT_MAX_OUTPUT;
    const stdoutP = readCapped(child.stdout, max, `${tool} output`, options.expectedOutput);
    const stderrP = readTail(child.stderr);
    let stdout: Uint8Array;
    try {
      stdout = await stdoutP;
    } catch (e) {
      kill();
      await Promise.allSettled([stderrP, writing, child.status]);
      throw e;
    }
    const [stderr, status] = await Promise.all([stderrP, child.status, writing.catch(() => {})]);
    signal.throwIfAborted();
    return { code: status.code, stdout, stderr };
  } finally {
    signal.removeEventListener("abort", kill);
  }
}

/** Spawned processes still running in this isolate; killed when the program exits. */
const live = new Set<SpawnedProcess>();
let killAtExit = false;

/**
 * Starts `tool` as a long-lived process with piped stdin, stdout and stderr. The owner ends it;
 * `owned` (the plugin's set) lets the host kill what the plugin left running when it closes it.
 */
export function spawnTool(
  tools: Readonly<Record<string, string>>,
  tool: string,
  args: string[],
  options: SpawnOptions = {},
  owned?: Set<SpawnedProcess>,
): SpawnedProcess {
  const child = startTool(tools, tool, args, {
    cwd: options.cwd,
    env: options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const proc: SpawnedProcess = {
    pid: child.pid,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    status: child.status.then((s) => ({ code: s.code, signal: s.signal })),
    kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    },
  };
  live.add(proc);
  owned?.add(proc);
  proc.status.finally(() => {
    live.delete(proc);
    owned?.delete(proc);
  });
  if (!killAtExit) {
    killAtExit = true;
    // A batch-mode tool may wait on its stdin forever (exiftool does), so none may outlive us.
    globalThis.addEventListener("unload", () => {
      for (const p of live) p.kill();
    });
  }
  return proc;
}

async function writeAll(stream: WritableStream<Uint8Array>, data: Uint8Array): Promise<void> {
  const w = stream.getWriter();
  try {
    await w.write(data);
    await w.close();
  } catch {
    // The tool may exit without reading all of its input; its exit status tells the story.
  }
}

/**
 * Writes `content` to a private temporary file, runs `use` on its path, then removes it.
 * `base`: the folder to make it in (a plugin sandbox may write only there); default the system's.
 * `live`: the call's set of folders still in use, which {@link removeTempFiles} clears when the
 * call ends before `use` does (a timeout): the folder must not outlive the call.
 */
export async function withTempFile<T>(
  content: Uint8Array,
  use: (path: string) => Promise<T>,
  base?: string,
  live?: Set<string>,
): Promise<T> {
  // makeTempDir creates the folder with mode 0700, so no other user can read the payload.
  const dir = await Deno.makeTempDir({ prefix: "stoq-tool-", dir: base });
  live?.add(dir);
  try {
    await Deno.chmod(dir, 0o700);
    const path = `${dir}/payload`;
    await Deno.writeFile(path, content, { mode: 0o600 });
    return await use(path);
  } finally {
    live?.delete(dir);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Removes the temporary folders of a call that ended while they were in use. */
export async function removeTempFiles(live: Set<string>): Promise<void> {
  for (const dir of live) await Deno.remove(dir, { recursive: true }).catch(() => {});
  live.clear();
}
