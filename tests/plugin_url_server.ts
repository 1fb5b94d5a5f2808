/** A plugin server on 127.0.0.1 for the plugin-by-URL tests: serves what the test puts in it. */
import { createHash } from "node:crypto";

/** A running test server. */
export interface PluginServer {
  /** `http://127.0.0.1:PORT` */
  base: string;
  port: number;
  /** Serves `text` at `path` (replacing what was there). */
  put(path: string, text: string): string;
  /** How many requests `path` got. */
  hits(path: string): number;
  stop(): Promise<void>;
}

/** Starts a server on a free port of 127.0.0.1. */
export function servePlugins(): PluginServer {
  const files = new Map<string, string>();
  const count = new Map<string, number>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    count.set(path, (count.get(path) ?? 0) + 1);
    const text = files.get(path);
    return text === undefined
      ? new Response("not found", { status: 404 })
      : new Response(text, { headers: { "content-type": "text/plain" } });
  });
  const port = server.addr.port;
  const base = `http://127.0.0.1:${port}`;
  let stopped = false;
  return {
    base,
    port,
    put(path, text) {
      files.set(path, text);
      return `${base}${path}`;
    },
    hits: (path) => count.get(path) ?? 0,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.shutdown();
    },
  };
}

/** Hex sha256 of a text's UTF-8 bytes. */
export function sha256Text(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Source of a self-contained JavaScript worker plugin; `body` is the scan function's body. */
export function jsWorker(
  name: string,
  body: string,
  extra = "",
  version = "1.0.0",
): string {
  return `export default (stoq) => stoq.plugin({
  name: ${JSON.stringify(name)}, version: ${JSON.stringify(version)},
  description: "test plugin ${name}", classes: ["worker"], ${extra}
  create: (opts) => ({ async scan(payload, request, call) { ${body} } }),
});
`;
}
