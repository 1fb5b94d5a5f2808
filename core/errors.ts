/** Error text in stoQ's shape, and the errors the core itself raises. */

/** A user mistake (bad config, unknown plugin, bad flag): printed as one line, never a stack. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** A usage error on the command line: exit code 2. */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, 2);
  }
}

const FRAME = /\(?((?:file|https?|data):[^\s)]+?):(\d+):\d+\)?$/;

/** The innermost stack frame in our or a plugin's code (not a library's), as `path:line`. */
function where(err: Error): string {
  for (const line of (err.stack ?? "").split("\n").slice(1)) {
    const m = FRAME.exec(line.trim());
    if (!m || m[1].includes("/node_modules/")) continue;
    let file = m[1];
    if (file.startsWith("data:")) file = "<plugin module>";
    else {
      try {
        if (file.startsWith("file:")) file = new URL(file).pathname;
      } catch { /* keep as is */ }
      const cwd = Deno.cwd() + "/";
      if (file.startsWith(cwd)) file = file.slice(cwd.length);
    }
    return `${file}:${m[2]}`;
  }
  return "";
}

/** `"<prefix>: <where> ; <Type>: <message>"`, one line, like stoQ's `format_exc`. */
export function formatException(err: unknown, prefix?: string): string {
  let text: string;
  if (err instanceof Error) {
    const loc = where(err);
    const type = err.name || err.constructor?.name || "Error";
    text = `${loc ? loc + " ; " : ""}${type}: ${err.message}`;
  } else {
    text = `Error: ${String(err)}`;
  }
  text = text.replace(/\s*\n\s*/g, " ");
  return prefix ? `${prefix}: ${text}` : text;
}

/** The first `max` of `names`, comma-separated, then "and N more": for messages about many things. */
export function listSome(names: readonly string[], max: number): string {
  const shown = names.slice(0, max).join(", ");
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}
