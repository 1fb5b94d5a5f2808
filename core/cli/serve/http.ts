/**
 * `stoq serve`'s request handler: the HTTP API, the embedded web page, and the checks every
 * request passes first (Host, Origin, bearer token, method, size, load). It knows nothing of
 * threads or stores: {@link ServeBackend} scans, searches and looks up. No part of a request
 * ever names a file: assets are looked up by exact path in memory, uploads are scanned from memory.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { SearchQuery, StoqResponse, StoredScan } from "../../engine/plugin.ts";
import { UserError } from "../../errors.ts";
import { readCapped } from "../../stream.ts";
import { VERSION } from "../../version.ts";
import { LIST_FLAGS, parseSearchArgs } from "../search.ts";
import { type AnyDoc, summarize } from "../view/facts.ts";
import { ASSETS } from "./assets.ts";

/** What the handler needs from the running server. */
export interface ServeBackend {
  /** Scans `content` and saves the result (store and connectors); rejects when it could not. */
  scan(content: Uint8Array, filename: string | null, source: string | null): Promise<StoqResponse>;
  /** Stored scans matching `query`, newest first; undefined when the store cannot search. */
  search?(query: SearchQuery): Promise<StoredScan[]>;
  /** One stored scan; undefined when the store cannot look scans up. */
  get?(scanId: string): Promise<StoredScan | null>;
  /** Prometheus metrics text. */
  metrics(): string;
}

/** The server's limits and credentials. */
export interface ServeSettings {
  /** Largest upload, in bytes (`[core] max_payload_size`). */
  maxBytes: number;
  /** Scans at once; one more is refused with 429. */
  maxScans: number;
  /** Bearer tokens; empty: none asked (loopback only). */
  tokens: string[];
  /** Host headers accepted when no token is asked (DNS rebinding); undefined: any. */
  hosts?: Set<string>;
  /** Scan threads, for /health. */
  threads: number;
  /** The result store's name, for /health. */
  store: string;
}

/** Every response carries these: nothing may load from elsewhere, frame it, or sniff its type. */
export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; " +
    "frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/** Room for multipart boundaries and part headers around the file itself. */
const MULTIPART_SLACK = 64 * 1024;
const MAX_NAME = 1024;
const MAX_SEARCH_LIMIT = 1000;
const SCAN_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: HeadersInit = {}) {
    super(message);
  }
}

function respond(
  body: BodyInit | null,
  status: number,
  type: string,
  extra: HeadersInit = {},
): Response {
  const headers = new Headers({ ...SECURITY_HEADERS, "content-type": type });
  for (const [k, v] of new Headers(extra)) headers.set(k, v);
  return new Response(body, { status, headers });
}

function json(value: unknown, status = 200, extra: HeadersInit = {}): Response {
  return respond(JSON.stringify(value), status, "application/json; charset=utf-8", {
    "cache-control": "no-store",
    ...Object.fromEntries(new Headers(extra)),
  });
}

function sha(s: string): Uint8Array {
  return createHash("sha256").update(s).digest();
}

/** Whether `header` is `Bearer <one of tokens>`, compared in constant time. */
export function tokenMatches(header: string | null, tokens: string[]): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!m) return false;
  const given = sha(m[1]);
  let ok = false;
  for (const t of tokens) ok = timingSafeEqual(given, sha(t)) || ok;
  return ok;
}

/** Reads a request body, refusing (413) past `max` bytes without holding more than that. */
async function readBody(req: Request, max: number): Promise<Uint8Array> {
  const tooBig = () =>
    new HttpError(
      413,
      `the upload is over max_payload_size (${max} bytes); raise [core] max_payload_size to scan it`,
    );
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > max) throw tooBig();
  if (!req.body) return new Uint8Array();
  return await readCapped(req.body, max, tooBig);
}

/** A filename from a request: metadata only, so just kept short and free of control characters. */
function cleanName(name: string | null | undefined): string | null {
  if (!name) return null;
  // deno-lint-ignore no-control-regex
  const clean = name.replace(/[\x00-\x1f\x7f]/g, "_").slice(0, MAX_NAME).trim();
  return clean || null;
}

/** The upload of a scan request: raw body, or the one file of a multipart form. */
async function upload(
  req: Request,
  url: URL,
  maxBytes: number,
): Promise<{ content: Uint8Array; filename: string | null }> {
  const type = req.headers.get("content-type") ?? "";
  const named = cleanName(url.searchParams.get("filename"));
  if (!/^multipart\/form-data/i.test(type)) {
    return { content: await readBody(req, maxBytes), filename: named };
  }
  const body = await readBody(req, maxBytes + MULTIPART_SLACK);
  let form: FormData;
  try {
    form = await new Response(body as BodyInit, { headers: { "content-type": type } }).formData();
  } catch (e) {
    throw new HttpError(400, `the multipart body does not parse: ${(e as Error).message}`);
  }
  const files = [...form.values()].filter((v): v is File => v instanceof File);
  if (files.length !== 1) {
    throw new HttpError(
      400,
      `a multipart upload holds exactly one file, not ${files.length} (send one request per file)`,
    );
  }
  if (files[0].size > maxBytes) {
    throw new HttpError(413, `the upload is over max_payload_size (${maxBytes} bytes)`);
  }
  return {
    content: new Uint8Array(await files[0].arrayBuffer()),
    filename: named ?? cleanName(files[0].name),
  };
}

/** Query parameters as `stoq search` flags: the same names, checks and messages. */
export function searchQuery(params: URLSearchParams): { query: SearchQuery; full: boolean } {
  const argv: string[] = [];
  let full = false;
  const allowed = new Set([...LIST_FLAGS, "--since", "--until", "--limit"]);
  for (const [key, value] of params) {
    if (key === "full") {
      full = value === "1" || value === "true";
      continue;
    }
    if (value === "") continue;
    const flag = `--${key}`;
    if (!allowed.has(flag)) {
      throw new HttpError(
        400,
        `unknown search parameter "${key}" (use ${
          [...allowed].map((f) => f.slice(2)).join(", ")
        }, full)`,
      );
    }
    argv.push(flag, value);
  }
  let query: SearchQuery;
  try {
    query = parseSearchArgs(argv).query;
  } catch (e) {
    if (e instanceof UserError) throw new HttpError(400, e.message.replace(/--(\w+)/g, "$1"));
    throw e;
  }
  if (!params.has("limit")) query.limit = 50;
  query.limit = Math.min(query.limit, MAX_SEARCH_LIMIT);
  return { query, full };
}

/** Builds the request handler. */
export function makeHandler(backend: ServeBackend, settings: ServeSettings) {
  let running = 0;
  const authRequired = settings.tokens.length > 0;

  /** Refuses what fails the checks every request passes. */
  const guard = (req: Request, url: URL, api: boolean) => {
    const host = req.headers.get("host") ?? "";
    if (settings.hosts && !settings.hosts.has(host.toLowerCase())) {
      throw new HttpError(
        421,
        `unexpected Host "${host}": without a token, stoq serve answers only to its own address`,
      );
    }
    if (!api) return;
    // A page elsewhere must not drive the API from a user's browser.
    const origin = req.headers.get("origin");
    const site = req.headers.get("sec-fetch-site");
    if ((origin && origin !== `${url.protocol}//${host}`) || site === "cross-site") {
      throw new HttpError(403, "cross-origin requests are not accepted");
    }
    if (authRequired && !tokenMatches(req.headers.get("authorization"), settings.tokens)) {
      throw new HttpError(401, "a bearer token is required (Authorization: Bearer TOKEN)", {
        "www-authenticate": 'Bearer realm="stoq"',
      });
    }
  };

  const scan = async (req: Request, url: URL): Promise<Response> => {
    if (running >= settings.maxScans) {
      throw new HttpError(
        429,
        `${running} scans are running, the most at once ([serve] max_scans); try again shortly`,
        { "retry-after": "1" },
      );
    }
    running++;
    try {
      const { content, filename } = await upload(req, url, settings.maxBytes);
      if (!content.length) throw new HttpError(400, "the upload is empty: nothing to scan");
      const source = cleanName(url.searchParams.get("source"));
      const response = await backend.scan(content, filename, source);
      return json(response, 200, { location: `/api/v1/results/${response.scan_id}` });
    } finally {
      running--;
    }
  };

  const routes = async (req: Request, url: URL): Promise<Response> => {
    const path = url.pathname;
    const asset = Object.hasOwn(ASSETS, path) ? ASSETS[path] : undefined;
    if (asset) {
      guard(req, url, false);
      if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "GET only");
      return respond(req.method === "HEAD" ? null : asset.body, 200, asset.type, {
        "cache-control": "no-cache",
      });
    }
    if (path === "/api/v1/health") {
      guard(req, url, false);
      return json({
        status: "ok",
        version: VERSION,
        scans_running: running,
        max_scans: settings.maxScans,
        threads: settings.threads,
        store: settings.store,
        auth: authRequired ? "bearer" : "none",
      });
    }
    if (path !== "/metrics" && !path.startsWith("/api/")) {
      guard(req, url, false);
      throw new HttpError(404, `nothing at ${path}`);
    }
    guard(req, url, true);
    const method = (want: string) => {
      if (req.method !== want) {
        throw new HttpError(405, `${path} takes ${want}`, { allow: want });
      }
    };
    if (path === "/metrics") {
      method("GET");
      return respond(backend.metrics(), 200, "text/plain; version=0.0.4; charset=utf-8");
    }
    if (path === "/api/v1/scan") {
      method("POST");
      return await scan(req, url);
    }
    if (path === "/api/v1/search") {
      method("GET");
      if (!backend.search) throw new HttpError(501, `the store ${settings.store} cannot search`);
      const { query, full } = searchQuery(url.searchParams);
      const found = await backend.search(query);
      return json({
        count: found.length,
        limit: query.limit,
        scans: found.map((row) => {
          const doc = JSON.parse(row.result) as AnyDoc;
          return full ? { ...summarize(doc), result: doc } : summarize(doc);
        }),
      });
    }
    const m = /^\/api\/v1\/results\/([^/]+)$/.exec(path);
    if (m) {
      method("GET");
      const id = decodeURIComponent(m[1]);
      if (!SCAN_ID.test(id)) throw new HttpError(400, "that is not a scan id");
      if (!backend.get) {
        throw new HttpError(501, `the store ${settings.store} cannot look up scans by id`);
      }
      const row = await backend.get(id);
      if (!row) throw new HttpError(404, `no stored scan ${id}`);
      return respond(row.result, 200, "application/json; charset=utf-8", {
        "cache-control": "no-store",
      });
    }
    throw new HttpError(404, `no API endpoint ${path}`);
  };

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    try {
      return await routes(req, url);
    } catch (e) {
      if (e instanceof HttpError) return json({ error: e.message }, e.status, e.headers);
      return json({ error: (e as Error).message ?? String(e) }, 500);
    }
  };
}
