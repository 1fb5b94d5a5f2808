/** Logging to stderr, as text or one JSON object per line. Results never go through here. */

/** A logger scoped to one plugin (`stoq.<name>`); writes to stderr. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const LOG_LEVELS = ["debug", "info", "warning", "error", "critical"] as const;
export type LogLevel = typeof LOG_LEVELS[number];
export type LogFormat = "text" | "json";

const RANK: Record<LogLevel, number> = {
  debug: 10,
  info: 20,
  warning: 30,
  error: 40,
  critical: 50,
};

/** Where log lines also go: a file that rotates at `maxBytes`, keeping `backups` old ones. */
export interface LogFile {
  dir: string;
  maxBytes: number;
  backups: number;
}

const state = {
  level: "info" as LogLevel,
  format: "text" as LogFormat,
  file: undefined as (LogFile & { path: string; size: number }) | undefined,
};
const enc = new TextEncoder();

/** Everything logging needs; plain data, so pool threads can be given the same. */
export interface LogSettings {
  level: LogLevel;
  format: LogFormat;
  file?: LogFile;
}

/** The settings in force, to hand to pool threads. */
export function logSettings(): LogSettings {
  const f = state.file;
  return {
    level: state.level,
    format: state.format,
    file: f ? { dir: f.dir, maxBytes: f.maxBytes, backups: f.backups } : undefined,
  };
}

/** Sets the process-wide log level and format, and optionally a rotating log file. */
export function configureLogging(level: LogLevel, format: LogFormat, file?: LogFile): void {
  state.level = level;
  state.format = format;
  if (file?.dir) {
    Deno.mkdirSync(file.dir, { recursive: true });
    const path = `${file.dir}/stoq.log`;
    let size = 0;
    try {
      size = Deno.statSync(path).size;
    } catch { /* new file */ }
    state.file = { ...file, path, size };
  } else state.file = undefined;
}

function rotate(f: LogFile & { path: string }): void {
  for (let i = f.backups - 1; i >= 1; i--) {
    try {
      Deno.renameSync(`${f.path}.${i}`, `${f.path}.${i + 1}`);
    } catch { /* that backup does not exist yet */ }
  }
  if (f.backups > 0) Deno.renameSync(f.path, `${f.path}.1`);
  else Deno.removeSync(f.path);
}

function toFile(bytes: Uint8Array): void {
  const f = state.file;
  if (!f) return;
  try {
    if (f.size > 0 && f.size + bytes.length > f.maxBytes) {
      rotate(f);
      f.size = 0;
    }
    Deno.writeFileSync(f.path, bytes, { append: true });
    f.size += bytes.length;
  } catch {
    // A full disk must not stop the scan; stderr still has the line.
  }
}

/** Whether a message at `level` would be written. */
export function logEnabled(level: LogLevel): boolean {
  return RANK[level] >= RANK[state.level];
}

function write(level: LogLevel, name: string, msg: string, fields?: Record<string, unknown>): void {
  if (!logEnabled(level)) return;
  const time = new Date().toISOString();
  let line: string;
  if (state.format === "json") {
    line = JSON.stringify({
      time,
      level: level.toUpperCase(),
      logger: name,
      message: msg,
      ...fields,
    });
  } else {
    const extra = fields && Object.keys(fields).length ? " " + JSON.stringify(fields) : "";
    line = `[${time} ${level.toUpperCase()}] ${name}: ${msg}${extra}`;
  }
  const bytes = enc.encode(line + "\n");
  toFile(bytes);
  try {
    Deno.stderr.writeSync(bytes);
  } catch {
    // stderr closed: nothing sensible left to do with a log line
  }
}

/** A logger named `name` (e.g. `stoq` or `stoq.decompress`). */
export function getLogger(name: string): Logger {
  return {
    debug: (m, f) => write("debug", name, m, f),
    info: (m, f) => write("info", name, m, f),
    warn: (m, f) => write("warning", name, m, f),
    error: (m, f) => write("error", name, m, f),
  };
}

/**
 * Keeps the thread alive when code that is not running under a plugin call (a plugin's stray
 * timer or promise) throws: the error is logged, naming the plugin that last started a call.
 * Without this, one careless plugin would end the whole process, or a pool thread with all its scans.
 */
export function survivePluginStrays(lastPlugin: () => string | undefined): void {
  const log = getLogger("stoq");
  const report = (what: string, err: unknown) => {
    const plugin = lastPlugin();
    const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    log.error(
      `${what} outside any plugin call${plugin ? ` (last plugin started: ${plugin})` : ""}: ${msg}`,
    );
  };
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    report("uncaught error", e.error ?? e.message);
  });
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    report("unhandled promise rejection", e.reason);
  });
}
