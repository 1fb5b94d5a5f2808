/**
 * `stoq serve`: one process keeps a pool of scan threads and the result store open, and answers
 * the HTTP API and the web page (./http.ts) on a loopback address, or beyond it with a token.
 */
import { MIN_TOKEN_LENGTH, ServeConfigSchema } from "../../config.ts";
import { UsageError, UserError } from "../../errors.ts";
import { getLogger, logSettings } from "../../log.ts";
import { metrics } from "../../metrics.ts";
import { RequestMetaSchema, type StoqResponse } from "../../engine/model.ts";
import type { PayloadInput, SearchQuery } from "../../engine/plugin.ts";
import { poolScanner, processItem, type RunContext } from "../../run/runner.ts";
import { createStoq, type StoqInit } from "../../run/stoq.ts";
import type { CliArgs } from "../args.ts";
import { checkCliNames, pipelineFrom } from "../scan.ts";
import { setup } from "../setup.ts";
import { openResultStore } from "../store.ts";
import { makeHandler, type ServeBackend } from "./http.ts";

const log = getLogger("stoq");

/** `HOST:PORT`, `[V6]:PORT` or `PORT` (host 127.0.0.1). */
export function parseListen(text: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]:|([^:\[\]]+):)?(\d{1,5})$/.exec(text.trim());
  if (!m || Number(m[3]) > 65535) {
    throw new UsageError(`--listen wants HOST:PORT, [V6]:PORT or PORT, not "${text}"`);
  }
  return { hostname: m[1] ?? m[2] ?? "127.0.0.1", port: Number(m[3]) };
}

/** Whether `hostname` is a loopback address (reachable only from this machine). */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The tokens in force: --token, else $STOQ_SERVE_TOKEN, else [serve] tokens. */
function tokensFrom(args: CliArgs, configured: string[]): string[] {
  const env = Deno.env.get("STOQ_SERVE_TOKEN");
  const given = args.tokens ?? (env ? [env] : undefined);
  for (const t of given ?? []) {
    if (t.length < MIN_TOKEN_LENGTH) {
      throw new UsageError(
        `a token has at least ${MIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 24)`,
      );
    }
  }
  return given ?? configured;
}

/** `stoq serve`; returns the exit status once stopped (SIGINT or SIGTERM). */
export async function serveCommand(args: CliArgs): Promise<number> {
  const { config, home, sources } = await setup(args);
  if (args.max_recursion !== undefined) config.core.max_recursion = args.max_recursion;
  const core = config.core;
  const serve = config.serve ?? ServeConfigSchema.parse({});
  const listen = parseListen(args.listen ?? serve.listen);
  const tokens = tokensFrom(args, serve.tokens);
  if (!isLoopback(listen.hostname) && !tokens.length) {
    throw new UsageError(
      `listening on ${listen.hostname} reaches beyond this machine: give a token (--token, ` +
        `$STOQ_SERVE_TOKEN or [serve] tokens) that clients send as Authorization: Bearer`,
    );
  }
  const storeName = args.store ?? serve.store;
  const cliOptions = structuredClone(args.plugin_opts);
  if (args.db !== undefined) (cliOptions[storeName] ??= {}).path = args.db;
  metrics.enabled = true;
  metrics.gauge("stoq_start_time_seconds", () => Math.floor(performance.timeOrigin / 1000));
  const init: StoqInit = {
    config,
    cliOptions,
    home,
    sources,
    pipeline: pipelineFrom(args, config),
    start_dispatch: args.start_dispatch,
    metrics: true,
  };
  const threads = args.threads ?? (core.scan_threads || navigator.hardwareConcurrency || 1);
  const starting = poolScanner(init, threads, logSettings());
  starting.catch(() => {}); // awaited below
  let closeScanner = () => starting.then((s) => s.close(), () => {});
  const stoq = await createStoq(init).catch(async (e) => {
    await closeScanner();
    throw e;
  });
  try {
    checkCliNames(stoq, args);
    const { store } = await openResultStore({
      config,
      home,
      sources,
      store: storeName,
      db: args.db,
      readOnly: false,
      command: "serve",
      host: stoq.host,
    });
    const connectors = [...new Set([storeName, ...(args.connectors ?? core.connectors)])];
    for (const n of connectors) await stoq.host.load(n, "connector");
    const scanner = await starting;
    closeScanner = () => scanner.close();
    const base: RunContext = {
      stoq,
      scanner,
      connectors,
      request_meta: RequestMetaSchema.parse({}),
      start_dispatch: args.start_dispatch ?? [],
      source_archivers: [],
      consumers: 1,
    };
    const backend: ServeBackend = {
      async scan(content, filename, source) {
        const item: PayloadInput = {
          content,
          payload_meta: { extra_data: { filename } },
          request_meta: source ? { source } : undefined,
        };
        let response: StoqResponse | undefined;
        let failure: string | undefined;
        // The runner's own path: metrics, connectors with retries, dead letters, logging.
        await processItem(
          { ...base, emit: (r) => Promise.resolve(void (response = r)) },
          item,
          { ack: () => {}, nack: (why) => void (failure ??= why) },
        );
        if (!response) throw new Error(failure ?? "the payload was not scanned");
        return response;
      },
      async search(query: SearchQuery) {
        const out = await stoq.host.invoke(store, (call) => store.instance.search!(query, call));
        if (!out.ok) throw new Error(`${storeName}: ${out.error}`);
        return out.value;
      },
      get: store.instance.get_result
        ? async (scanId: string) => {
          const out = await stoq.host.invoke(
            store,
            (call) => store.instance.get_result!(scanId, call),
          );
          if (!out.ok) throw new Error(`${storeName}: ${out.error}`);
          return out.value ?? null;
        }
        : undefined,
      metrics: () => metrics.render(),
    };
    const hosts = tokens.length ? undefined : new Set<string>();
    const handler = makeHandler(backend, {
      maxBytes: core.max_payload_size,
      maxScans: serve.max_scans || threads * 2,
      tokens,
      hosts,
      threads,
      store: storeName,
    });
    let server: Deno.HttpServer;
    try {
      server = Deno.serve({
        hostname: listen.hostname,
        port: listen.port,
        onListen: ({ hostname, port }) => {
          const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
          for (const h of [`${shown}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`]) {
            hosts?.add(h.toLowerCase());
          }
          if (hostname === "::1") hosts?.add(`[::1]:${port}`);
          log.info(
            `listening on http://${shown}:${port}/ (${threads} scan thread(s), results in ` +
              `${storeName}${store.instance.location ? ` ${store.instance.location}` : ""}, ` +
              `${tokens.length ? "bearer token required" : "loopback only, no token"})`,
          );
        },
      }, handler);
    } catch (e) {
      throw new UserError(
        `cannot listen on ${listen.hostname}:${listen.port}: ${(e as Error).message}`,
      );
    }
    const stop = () => {
      log.info("stopping: finishing the requests in flight");
      server.shutdown();
    };
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    for (const s of signals) Deno.addSignalListener(s, stop);
    try {
      await server.finished;
    } finally {
      for (const s of signals) Deno.removeSignalListener(s, stop);
    }
    return 0;
  } finally {
    await closeScanner();
    await stoq.host.closeAll();
  }
}
