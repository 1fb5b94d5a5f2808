/**
 * HTTP for the storage connectors (elasticsearch, splunk, s3): one request function with the TLS
 * choices those services need, and exponential backoff with jitter for their retries.
 */

/** How to treat a server's TLS certificate. */
export interface TlsChoice {
  /** Verify the certificate chain and host name (the default everywhere). */
  verify_tls: boolean;
  /** A PEM file of extra CA certificates to trust, for a private CA. */
  ca_cert?: string;
}

/** A request to send. */
export interface HttpRequest {
  method: string;
  headers: Headers | Record<string, string>;
  body?: Uint8Array | string;
  /** Whole-request deadline in milliseconds. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** What came back. */
export interface HttpReply {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** Thrown when no HTTP answer arrived (refused, reset, DNS, TLS, timeout): worth a retry. */
export class NetworkError extends Error {
  override name = "NetworkError";
}

/** Sends requests to one service; `close()` releases its connections. */
export interface HttpSender {
  send(url: string, req: HttpRequest): Promise<HttpReply>;
  close(): void;
}

/**
 * A sender honouring `tls`. fetch cannot skip certificate checks, so `verify_tls = false` sends
 * https requests through node:https with `rejectUnauthorized: false` instead.
 */
export async function httpSender(tls: TlsChoice): Promise<HttpSender> {
  const caCerts = tls.ca_cert ? [await Deno.readTextFile(tls.ca_cert)] : undefined;
  const client = caCerts ? Deno.createHttpClient({ caCerts }) : undefined;
  return {
    send(url, req) {
      if (!tls.verify_tls && url.startsWith("https:")) return sendInsecure(url, req, caCerts);
      return sendFetch(url, req, client);
    },
    close: () => client?.close(),
  };
}

async function sendFetch(
  url: string,
  req: HttpRequest,
  client: Deno.HttpClient | undefined,
): Promise<HttpReply> {
  const signal = deadline(req);
  try {
    const res = await fetch(url, {
      method: req.method,
      headers: req.headers,
      body: req.body as BodyInit | undefined,
      signal,
      client,
    });
    return {
      status: res.status,
      headers: res.headers,
      body: new Uint8Array(await res.arrayBuffer()),
    };
  } catch (e) {
    throw asNetworkError(e, signal, req);
  }
}

async function sendInsecure(
  url: string,
  req: HttpRequest,
  ca: string[] | undefined,
): Promise<HttpReply> {
  const https = await import("node:https");
  const signal = deadline(req);
  const headers: Record<string, string> = {};
  new Headers(req.headers).forEach((v, k) => headers[k] = v);
  return await new Promise<HttpReply>((resolve, reject) => {
    const r = https.request(url, {
      method: req.method,
      headers,
      rejectUnauthorized: false,
      ca,
      agent: false,
      signal,
    }, (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (c: Uint8Array) => chunks.push(c));
      res.on("error", (e: Error) => reject(asNetworkError(e, signal, req)));
      res.on("end", () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
        }
        resolve({ status: res.statusCode ?? 0, headers: h, body: concat(chunks) });
      });
    });
    r.on("error", (e: Error) => reject(asNetworkError(e, signal, req)));
    r.end(req.body);
  });
}

function deadline(req: HttpRequest): AbortSignal {
  const t = AbortSignal.timeout(req.timeoutMs);
  return req.signal ? AbortSignal.any([req.signal, t]) : t;
}

function asNetworkError(e: unknown, signal: AbortSignal, req: HttpRequest): Error {
  // The caller's own abort (its call timed out) is not the server's fault: pass it through.
  if (req.signal?.aborted) {
    return req.signal.reason instanceof Error ? req.signal.reason : e as Error;
  }
  if (signal.aborted) return new NetworkError(`no answer within ${req.timeoutMs / 1000} s`);
  const err = e as Error & { cause?: Error };
  const why = err.cause?.message ?? err.message;
  return new NetworkError(why.replace(/^error sending request for url \([^)]*\): /, ""));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Whether an HTTP status is worth retrying: throttling and server-side failures. */
export function retryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Delay before retry number `attempt` (0-based): `base` seconds doubled each time, capped at
 * `cap`, with "equal jitter" (half fixed, half random) so that many clients spread out.
 */
export function backoffMs(attempt: number, baseSeconds: number, capSeconds = 30): number {
  const full = Math.min(capSeconds, baseSeconds * 2 ** attempt) * 1000;
  return full / 2 + Math.random() * full / 2;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener("abort", stop);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", stop, { once: true });
  });
}

/** The first `max` characters of a response body, for error messages. */
export function snippet(body: Uint8Array, max = 300): string {
  const text = new TextDecoder().decode(body).trim().replace(/\s+/g, " ");
  return text.length > max ? text.slice(0, max) + "…" : text;
}

/** The value of an option, else of the first environment variable set among `vars`. */
export function fromEnv(value: string | undefined, ...vars: string[]): string | undefined {
  if (value !== undefined && value !== "") return value;
  for (const v of vars) {
    const got = Deno.env.get(v);
    if (got) return got;
  }
  return undefined;
}

/** How often and how patiently to retry. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  max_retries: number;
  /** First delay in seconds; doubles with each retry. */
  retry_delay: number;
}

/**
 * Sends the request `build(attempt)` makes until an answer that is not worth retrying, retrying
 * network errors and 429/5xx answers with backoff. Returns the last answer (possibly a 5xx once
 * retries are exhausted) and how many attempts it took; throws the last network error.
 */
export async function sendRetrying(
  sender: HttpSender,
  build: (attempt: number) => Promise<[string, HttpRequest]> | [string, HttpRequest],
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<{ reply: HttpReply; attempts: number }> {
  for (let attempt = 0;; attempt++) {
    const [url, req] = await build(attempt);
    try {
      const reply = await sender.send(url, { ...req, signal });
      if (!retryableStatus(reply.status) || attempt >= policy.max_retries) {
        return { reply, attempts: attempt + 1 };
      }
    } catch (e) {
      if (!(e instanceof NetworkError)) throw e;
      if (attempt >= policy.max_retries) {
        throw new NetworkError(`${e.message} (${attempt + 1} attempts)`);
      }
    }
    await sleep(backoffMs(attempt, policy.retry_delay), signal);
  }
}
