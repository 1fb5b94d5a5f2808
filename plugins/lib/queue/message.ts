/**
 * The message format shared by the queue plugins (redis, rabbitmq, nats), the options and the
 * publishing side they have in common, and the bookkeeping a consumer needs: how many messages it
 * holds unacknowledged, and when one was delivered too often.
 *
 * A message is a body plus an optional meta text (a Redis stream field, an AMQP or NATS header).
 * With meta, the body is the payload's raw bytes and meta is JSON
 * `{"payload_meta": {...}, "request_meta": {...}}`. Without it, the body is one JSON document:
 * `{"content": "<base64>", ...}` (a payload) or `{"archived": {"<archiver>": task}, ...}`
 * (a reference that a source archiver fetches: stoQ's publish-archive pattern).
 */
import type {
  Payload,
  PayloadMetaInput,
  ProviderItem,
  Request,
  RequestMetaInput,
  StoqAPI,
  StoqResponse,
} from "../../../core/engine/plugin.ts";

/** The name of the meta field or header. */
export const META_FIELD = "stoq-meta";

/** A message that can never be scanned: it goes to the dead letters at once. */
export class PoisonMessage extends Error {}

/** Throws PoisonMessage for a message on its `deliveries`th delivery when `max` allow fewer. */
export function checkDeliveries(deliveries: number, max: number, lastFailure?: string): void {
  if (deliveries <= max) return;
  throw new PoisonMessage(
    `delivered ${deliveries - 1} times without being acknowledged` +
      (lastFailure ? ` (last failure here: ${lastFailure})` : ""),
  );
}

/** What a publisher sends. */
export interface OutMessage {
  body: Uint8Array;
  /** Present for a raw payload; absent when `body` is a JSON document. */
  meta?: string;
}

type Z = StoqAPI["z"];

/** The options every queue plugin has, spread into its own. */
export function queueOptions(z: Z) {
  return {
    max_deliveries: z.number().int().min(1).default(5),
    publish_archive: z.boolean().default(true),
  };
}

const schemas = new WeakMap<Z, ReturnType<typeof build>>();

function build(z: Z) {
  const payloadMeta = z.strictObject({
    should_archive: z.boolean().optional(),
    should_scan: z.boolean().optional(),
    extra_data: z.record(z.string(), z.unknown()).optional(),
    dispatch_to: z.array(z.string()).optional(),
  });
  const requestMeta = z.strictObject({
    archive_payloads: z.boolean().optional(),
    source: z.string().nullable().optional(),
    extra_data: z.record(z.string(), z.unknown()).optional(),
  });
  const metas = { payload_meta: payloadMeta.optional(), request_meta: requestMeta.optional() };
  return {
    meta: z.strictObject(metas),
    doc: z.strictObject({
      content: z.string().optional(),
      archived: z.record(z.string(), z.unknown()).optional(),
      ...metas,
    }),
  };
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PoisonMessage(`${what} is not JSON (${(e as Error).message})`);
  }
}

function check<T>(
  schema: {
    safeParse(v: unknown): { success: true; data: T } | {
      success: false;
      error: { issues: { path: PropertyKey[]; message: string }[] };
    };
  },
  value: unknown,
  what: string,
): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const why = r.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ");
  throw new PoisonMessage(`${what}: ${why}`);
}

/** Turns a message into a provider item; throws PoisonMessage when it is not one. */
export function decodeMessage(z: Z, body: Uint8Array, meta: string | undefined): ProviderItem {
  const s = schemas.get(z) ?? build(z);
  schemas.set(z, s);
  if (meta !== undefined) {
    const m = check(s.meta, parseJson(meta, META_FIELD), META_FIELD);
    // A copy of its own: a client's Buffer is often a view into a pool or a frame it reuses, and
    // the scan threads take over (detach) the content's ArrayBuffer.
    const content = new Uint8Array(body);
    return { content, payload_meta: m.payload_meta, request_meta: m.request_meta };
  }
  const doc = check(s.doc, parseJson(new TextDecoder().decode(body), "the body"), "the body");
  const { content, archived, payload_meta, request_meta } = doc;
  if ((content === undefined) === (archived === undefined)) {
    throw new PoisonMessage(
      `the body needs exactly one of "content" (base64) and "archived" ({"<archiver>": task}); ` +
        `a raw payload comes with the ${META_FIELD} field or header`,
    );
  }
  if (archived !== undefined) {
    if (!Object.keys(archived).length) {
      throw new PoisonMessage(`"archived" names no archiver`);
    }
    return { archived, payload_meta, request_meta };
  }
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.fromBase64(content!.replace(/\s+/g, ""));
  } catch (e) {
    throw new PoisonMessage(`"content" is not base64 (${(e as Error).message})`);
  }
  return { content: bytes, payload_meta, request_meta };
}

/** The message an archiver publishes: the payload's bytes, raw, with its metadata. */
export function payloadMessage(payload: Payload, request: Request): OutMessage {
  const meta: { payload_meta: PayloadMetaInput; request_meta: RequestMetaInput } = {
    payload_meta: { extra_data: payload.results.payload_meta.extra_data },
    request_meta: request.request_meta,
  };
  return { body: payload.content, meta: JSON.stringify(meta) };
}

/**
 * The messages a connector publishes with publish_archive: for each initial payload (extracted
 * ones are extracted again where the reference is scanned), one reference naming every other
 * archiver that stored it. `self` is left out: its archive() already published the payload.
 * Throws when a payload was archived by no one, since its result would otherwise be dropped.
 */
export function referenceMessages(response: StoqResponse, self: string): OutMessage[] {
  const out: OutMessage[] = [];
  for (const r of response.results) {
    if (r.extracted_from.length) continue;
    const archived = Object.fromEntries(
      Object.entries(r.archivers).filter(([name]) => name !== self),
    );
    if (!Object.keys(archived).length) {
      if (self in r.archivers) continue;
      throw new Error(
        `${self}: nothing to publish for scan ${response.scan_id}: no archiver stored payload ` +
          `${r.payload_id} (give -A filedir or -A s3, -A ${self} to publish the payload itself, ` +
          `or ${self}:publish_archive=false to publish results)`,
      );
    }
    const doc = {
      archived,
      payload_meta: { extra_data: r.payload_meta.extra_data },
      request_meta: response.request_meta,
    };
    out.push({ body: new TextEncoder().encode(JSON.stringify(doc)) });
  }
  return out;
}

/** The message a connector publishes without publish_archive: the whole result document. */
export function resultMessage(response: StoqResponse): OutMessage {
  return { body: new TextEncoder().encode(JSON.stringify(response)) };
}

/**
 * A queue plugin's archive() and save(), given how it sends messages (`send`) and what archive()
 * reports of what it sent (`where`): an archiver publishes the payload itself, a connector
 * references (publish_archive) or the result.
 */
export function publishing<R>(
  self: string,
  publishArchive: boolean,
  send: (msgs: OutMessage[]) => Promise<R>,
  where: (sent: R) => Record<string, unknown>,
) {
  return {
    async archive(payload: Payload, request: Request) {
      return { results: where(await send([payloadMessage(payload, request)])) };
    },
    async save(response: StoqResponse) {
      const msgs = publishArchive ? referenceMessages(response, self) : [resultMessage(response)];
      if (msgs.length) await send(msgs);
    },
  };
}

/**
 * Messages a consumer holds unacknowledged, by id. `room` waits until fewer than `limit` are
 * held, so one instance never hoards what other instances on the same queue could scan.
 */
export class InFlight<T> {
  readonly #held = new Map<string, T>();
  #wake: (() => void) | undefined;

  constructor(readonly limit: number) {}

  /** Starts holding `value` under `id`. */
  add(id: string, value: T): void {
    this.#held.set(id, value);
  }

  /** Stops holding `id`; returns what was held. */
  take(id: string): T | undefined {
    const v = this.#held.get(id);
    if (this.#held.delete(id)) {
      this.#wake?.();
      this.#wake = undefined;
    }
    return v;
  }

  /** Whether `id` is held. */
  has(id: string): boolean {
    return this.#held.has(id);
  }

  /** Ids held now. */
  ids(): string[] {
    return [...this.#held.keys()];
  }

  /** Everything held now. */
  entries(): [string, T][] {
    return [...this.#held.entries()];
  }

  get size(): number {
    return this.#held.size;
  }

  /** How many more may be taken: waits for at least one, or gives 0 once `signal` aborts. */
  async room(signal: AbortSignal): Promise<number> {
    while (this.#held.size >= this.limit && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener("abort", done);
          resolve();
        };
        this.#wake = done;
        signal.addEventListener("abort", done, { once: true });
      });
    }
    return signal.aborted ? 0 : this.limit - this.#held.size;
  }
}

/** Sleeps `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Whether `e` is the queue's "the run is stopping" refusal. */
export function isStopping(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}
