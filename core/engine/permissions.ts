/**
 * What a plugin may declare in `permissions` (part of the contract): the form each entry must
 * have. What is granted is decided when plugins load (core/loading/permissions.ts).
 */
import type { PluginPermissions } from "./plugin.ts";

const HOST =
  /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:\d{1,5})?$/i;
const ENV = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PATH_START = /^(\/|\$STOQ_HOME(\/|$)|~(\/|$))/;

/**
 * Checks and copies a spec's `permissions`; the message of a thrown error says what is wrong.
 * Hosts are `host` or `host:port`; paths absolute or under `$STOQ_HOME/` or `~/`; no wildcards.
 */
export function normalizePermissions(p: unknown): Required<PluginPermissions> {
  const out = { net: [], read: [], write: [], env: [] } as Required<PluginPermissions>;
  if (p === undefined) return out;
  if (!p || typeof p !== "object" || Array.isArray(p)) {
    throw new Error('permissions must be an object such as { net: ["api.example.com"] }');
  }
  for (const [key, list] of Object.entries(p)) {
    if (!(key in out)) {
      throw new Error(`permissions.${key} is not a permission (net, read, write or env)`);
    }
    if (!Array.isArray(list) || list.some((v) => typeof v !== "string")) {
      throw new Error(`permissions.${key} must be a list of strings`);
    }
    const check = key === "net"
      ? (v: string) => HOST.test(v)
      : key === "env"
      ? (v: string) => ENV.test(v)
      : (v: string) => PATH_START.test(v) && !v.split("/").includes("..");
    const bad = list.find((v: string) => !check(v));
    if (bad !== undefined) {
      const want = key === "net"
        ? "a host or host:port"
        : key === "env"
        ? "a variable name"
        : "an absolute path, or one starting with $STOQ_HOME/ or ~/, without '..'";
      throw new Error(`permissions.${key}: ${JSON.stringify(bad)} is not ${want}`);
    }
    out[key as keyof PluginPermissions] = [...new Set(list as string[])];
  }
  return out;
}
