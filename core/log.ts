/** Logging to stderr, as text or one JSON object per line. Results never go through here. */
import type { Logger } from "./plugin.ts";

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

const state = { level: "info" as LogLevel, format: "text" as LogFormat };
const enc = new TextEncoder();

/** Sets the process-wide log level and format. */
export function configureLogging(level: LogLevel, format: LogFormat): void {
  state.level = level;
  state.format = format;
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
  try {
    Deno.stderr.writeSync(enc.encode(line + "\n"));
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
