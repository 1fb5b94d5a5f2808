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

/**
 * What to tell a user about an error a plugin raised at start-up: the message alone when it is
 * a plain `Error` (a plugin's words to the user, e.g. "set source_dir") or a {@link UserError};
 * otherwise stoQ's one-line form with where it happened, since a TypeError and the like are bugs.
 */
export function userMessage(err: unknown): string {
  if (err instanceof UserError || (err instanceof Error && err.name === "Error")) {
    return err.message.replace(/\s*\n\s*/g, " ");
  }
  return formatException(err);
}

/** The first `max` of `names`, comma-separated, then "and N more": for messages about many things. */
export function listSome(names: readonly string[], max: number): string {
  const shown = names.slice(0, max).join(", ");
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/**
 * Why a path read from the command line or a folder cannot be opened: Deno hands names over as
 * UTF-8, replacing bytes that are not with U+FFFD, so such a name no longer names the file.
 */
export const NOT_UTF8 = "its name is not valid UTF-8, and stoq (Deno) opens files only by " +
  "UTF-8 names: rename it, or scan its content with `stoq scan - < FILE`";

/** Whether `path` lost bytes on its way in (see {@link NOT_UTF8}). */
export function hasLossyName(path: string): boolean {
  return path.includes("\uFFFD");
}
