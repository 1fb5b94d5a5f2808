/** Starts `./stoq serve` for a test, on a free loopback port, and stops it. */
import { STOQ } from "../../cli_helpers.ts";
import { tempDir } from "../../helpers.ts";

/** A running `./stoq serve`. */
export interface Served {
  /** `http://127.0.0.1:PORT/`. */
  url: string;
  port: number;
  home: string;
  /** What it logged so far. */
  stderr(): string;
  /** SIGTERM, then its exit code and log. */
  stop(): Promise<{ code: number; stderr: string }>;
}

/** Runs `./stoq serve --listen 127.0.0.1:0 ARGS` and waits until it listens. */
export async function startServe(
  args: string[] = [],
  opts: { home?: string; cwd?: string; env?: Record<string, string> } = {},
): Promise<Served> {
  const home = opts.home ?? await tempDir();
  const child = new Deno.Command(STOQ, {
    args: ["serve", "--listen", "127.0.0.1:0", ...args],
    cwd: opts.cwd ?? await tempDir(),
    env: { ...opts.env, STOQ_HOME: home, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  let listening: (url: string) => void = () => {};
  const ready = new Promise<string>((r) => listening = r);
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) {
      log += dec.decode(chunk, { stream: true });
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(log);
      if (m) listening(m[1]);
    }
  })();
  const exited = child.status.then((s) => s.code);
  const url = await Promise.race([
    ready,
    exited.then(async (code) => {
      await reading;
      throw new Error(`stoq serve exited (${code}) before it listened:\n${log}`);
    }),
  ]);
  return {
    url,
    port: Number(new URL(url).port),
    home,
    stderr: () => log,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const code = await exited;
      await reading;
      return { code, stderr: log };
    },
  };
}

/** Sends `raw` as it is over TCP (paths fetch() would normalise) and returns the status line. */
export async function rawRequest(port: number, raw: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(raw));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
  } finally {
    conn.close();
  }
}
