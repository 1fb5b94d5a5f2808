/**
 * Permissions of plugins loaded by URL: what a plugin declares, what `[core] allow_plugin_*`
 * grants, and the Deno Worker permissions its sandbox gets (exactly what it declared).
 */
import type { CoreConfig } from "../config.ts";
import type { PluginPermissions } from "../engine/plugin.ts";

/** The kinds a plugin declares, and the `[core]` key that grants each. */
export const GRANT_KEYS = {
  net: "allow_plugin_net",
  read: "allow_plugin_read",
  write: "allow_plugin_write",
  run: "allow_plugin_run",
  env: "allow_plugin_env",
} as const;
export type PermissionKind = keyof typeof GRANT_KEYS;

/** A plugin's declared permissions with its tools as `run`: every list present. */
export type Declared = Record<PermissionKind, string[]>;

/** A definition's declared permissions, its tools as `run`. */
export function declared(
  permissions: Readonly<Required<PluginPermissions>>,
  tools: Readonly<Record<string, string>>,
): Declared {
  return {
    net: [...permissions.net],
    read: [...permissions.read],
    write: [...permissions.write],
    run: Object.keys(tools),
    env: [...permissions.env],
  };
}

/** `$STOQ_HOME/x` and `~/x` made absolute; trailing slashes dropped. */
export function expandPath(path: string, home: string): string {
  const userHome = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? "/";
  let p = path.replace(/^\$STOQ_HOME(?=\/|$)/, home).replace(/^~(?=\/|$)/, userHome);
  while (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return p;
}

function hostOf(hostPort: string): string {
  return hostPort.startsWith("[")
    ? hostPort.slice(0, hostPort.indexOf("]") + 1)
    : hostPort.split(":")[0];
}

function granted(kind: PermissionKind, want: string, grants: string[], home: string): boolean {
  return grants.some((g) => {
    if (g === "*") return true;
    switch (kind) {
      case "net":
        return g === want || g === hostOf(want) ||
          (g.startsWith("*.") && hostOf(want).endsWith(g.slice(1)));
      case "read":
      case "write": {
        const base = expandPath(g, home);
        const p = expandPath(want, home);
        return p === base || p.startsWith(base === "/" ? "/" : base + "/");
      }
      case "env":
        return g === want || (g.endsWith("*") && want.startsWith(g.slice(0, -1)));
      case "run":
        return g === want;
    }
  });
}

/** What `plugin` asked for that `[core]` does not grant, one message per kind; empty if none. */
export function refusals(wants: Declared, core: CoreConfig, home: string): string[] {
  const out: string[] = [];
  for (const kind of Object.keys(GRANT_KEYS) as PermissionKind[]) {
    const key = GRANT_KEYS[kind];
    const grants = core[key];
    const missing = wants[kind].filter((w) => !granted(kind, w, grants, home));
    if (missing.length) {
      out.push(
        `${WHAT[kind]} ${missing.join(", ")}, which [core] ${key} does not grant (add ${
          missing.map((m) => JSON.stringify(m)).join(", ")
        } to ${key} in stoq.toml)`,
      );
    }
  }
  return out;
}

const WHAT: Record<PermissionKind, string> = {
  net: "it connects to",
  read: "it reads",
  write: "it writes",
  run: "it runs",
  env: "it reads environment variables",
};

/**
 * What this process itself cannot grant (a Worker cannot have more than its parent), e.g. a tool
 * missing from the launcher's --allow-run; one message per permission.
 */
export function beyondProcess(wants: Declared, home: string): string[] {
  const out: string[] = [];
  const ask = (desc: Deno.PermissionDescriptor, what: string, flag: string) => {
    if (Deno.permissions.querySync(desc).state !== "granted") {
      out.push(`${what}: this stoq process is not allowed to (start it with ${flag})`);
    }
  };
  for (const h of wants.net) ask({ name: "net", host: h }, `connect to ${h}`, "--allow-net");
  for (const p of wants.read) {
    ask({ name: "read", path: expandPath(p, home) }, `read ${p}`, "--allow-read");
  }
  for (const p of wants.write) {
    ask({ name: "write", path: expandPath(p, home) }, `write ${p}`, "--allow-write");
  }
  for (const t of wants.run) ask({ name: "run", command: t }, `run ${t}`, `--allow-run=${t}`);
  for (const v of wants.env) ask({ name: "env", variable: v }, `read $${v}`, "--allow-env");
  return out;
}

/**
 * The Deno permissions of a plugin's sandbox Worker: what it declared, plus read and write of its
 * private temporary folder `tmp` (for `call.withTempFile`; "" when none); nothing else, no imports.
 */
export function workerPermissions(
  wants: Declared,
  home: string,
  tmp: string,
): Deno.PermissionOptionsObject & { import: false } {
  const list = (xs: string[]) => xs.length ? xs : false;
  return {
    net: list(wants.net),
    read: list([...wants.read.map((p) => expandPath(p, home)), ...(tmp ? [tmp] : [])]),
    write: list([...wants.write.map((p) => expandPath(p, home)), ...(tmp ? [tmp] : [])]),
    run: list(wants.run),
    env: list(wants.env),
    sys: false,
    ffi: false,
    import: false,
  };
}

/** Lines saying what changed between two declarations: `+ net: x` and `- read: y`. */
export function diffPermissions(before: Declared, after: Declared): string[] {
  const out: string[] = [];
  for (const kind of Object.keys(GRANT_KEYS) as PermissionKind[]) {
    for (const v of after[kind]) if (!before[kind].includes(v)) out.push(`+ ${kind}: ${v}`);
    for (const v of before[kind]) if (!after[kind].includes(v)) out.push(`- ${kind}: ${v}`);
  }
  return out;
}

/** One line per kind a plugin declares, e.g. `net: api.example.com:443`; empty when none. */
export function describePermissions(wants: Declared): string[] {
  return (Object.keys(GRANT_KEYS) as PermissionKind[])
    .filter((k) => wants[k].length)
    .map((k) => `${k}: ${wants[k].join(", ")}`);
}
