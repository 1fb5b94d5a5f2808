/** The queue message format (plugins/lib/queue/message.ts): what decodes, and what publishers send. */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { stoqAPI } from "../../../core/engine/api.ts";
import type { PayloadInput, StoqResponse } from "../../../core/engine/plugin.ts";
import {
  newPayloadResults,
  PayloadMetaSchema,
  RequestMetaSchema,
} from "../../../core/engine/model.ts";
import {
  decodeMessage,
  InFlight,
  payloadMessage,
  PoisonMessage,
  referenceMessages,
  resultMessage,
} from "../../../plugins/lib/queue/message.ts";
import { makePayload, makeRequest } from "../../helpers.ts";

const z = stoqAPI.z;
const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("queue message: raw bytes with meta, base64 JSON, and a reference all decode", () => {
  const raw = decodeMessage(
    z,
    new Uint8Array([0, 255, 1]),
    '{"payload_meta":{"extra_data":{"filename":"a.bin"}},"request_meta":{"source":"s1"}}',
  ) as PayloadInput;
  deepEqual([...raw.content], [0, 255, 1]);
  deepEqual(raw.payload_meta, { extra_data: { filename: "a.bin" } });
  deepEqual(raw.request_meta, { source: "s1" });
  const b64 = decodeMessage(z, enc('{"content":"aGVs\\nbG8="}'), undefined) as PayloadInput;
  equal(new TextDecoder().decode(b64.content), "hello");
  const ref = decodeMessage(
    z,
    enc('{"archived":{"filedir":{"path":"/a"}},"payload_meta":{"extra_data":{"filename":"x"}}}'),
    undefined,
  );
  deepEqual(ref, {
    archived: { filedir: { path: "/a" } },
    payload_meta: { extra_data: { filename: "x" } },
    request_meta: undefined,
  });
});

Deno.test("queue message: what cannot be scanned is a PoisonMessage that says why", () => {
  const bad = (body: string, meta?: string, why?: RegExp) =>
    throws(() => decodeMessage(z, enc(body), meta), (e) => {
      ok(e instanceof PoisonMessage, String(e));
      if (why) ok(why.test(e.message), e.message);
      return true;
    });
  bad("{not json", undefined, /the body is not JSON/);
  bad('{"filedir":{"path":"/a"}}', undefined, /unrecognized key.*filedir|Unrecognized key/i);
  bad("{}", undefined, /exactly one of "content" .* and "archived"/);
  bad('{"content":"aGk=","archived":{"x":1}}', undefined, /exactly one/);
  bad('{"archived":{}}', undefined, /names no archiver/);
  bad('{"content":"not base64!"}', undefined, /"content" is not base64/);
  bad("raw", "{oops", /stoq-meta is not JSON/);
  bad("raw", '{"payload_meta":{"extra_data":[]}}', /payload_meta\.extra_data/);
});

Deno.test("queue message: the archiver's message is the raw payload with its metadata", () => {
  const p = makePayload("bytes", { extra_data: { filename: "f.txt" } });
  const req = makeRequest(p);
  req.request_meta.source = "sensor";
  const m = payloadMessage(p, req);
  equal(new TextDecoder().decode(m.body), "bytes");
  const back = decodeMessage(z, m.body, m.meta) as PayloadInput;
  deepEqual(back.payload_meta, { extra_data: { filename: "f.txt" } });
  equal(back.request_meta?.source, "sensor");
});

function response(archivers: Record<string, unknown>[]): StoqResponse {
  const results = archivers.map((a, i) => {
    const r = newPayloadResults(
      4,
      PayloadMetaSchema.parse({ extra_data: { filename: `f${i}` } }),
      i ? ["root"] : [],
    );
    r.archivers = a;
    return r;
  });
  return {
    results,
    request_meta: RequestMetaSchema.parse({ source: "sensor" }),
    errors: [],
    time: "2026-01-01T00:00:00Z",
    decorators: {},
    scan_id: "scan-1",
  };
}

Deno.test("queue message: the connector references each initial payload by every other archiver", () => {
  const r = response([{ filedir: { path: "/arch/x" }, s3: { key: "k" }, redis: { id: "1-0" } }, {
    filedir: { path: "/arch/child" },
  }]);
  const msgs = referenceMessages(r, "redis");
  equal(msgs.length, 1, "extracted payloads are extracted again where the reference is scanned");
  const doc = JSON.parse(new TextDecoder().decode(msgs[0].body));
  deepEqual(doc.archived, { filedir: { path: "/arch/x" }, s3: { key: "k" } });
  deepEqual(doc.payload_meta, { extra_data: { filename: "f0" } });
  equal(doc.request_meta.source, "sensor");
  equal(msgs[0].meta, undefined);
  // Published already by this plugin's own archive(): nothing more to send.
  deepEqual(referenceMessages(response([{ redis: { id: "1-0" } }]), "redis"), []);
  // Archived by no one: an error, not a silently dropped result.
  throws(() => referenceMessages(response([{}]), "redis"), /nothing to publish .* -A filedir/);
  const whole = JSON.parse(new TextDecoder().decode(resultMessage(r).body));
  equal(whole.scan_id, "scan-1");
});

Deno.test("queue message: InFlight makes room wait until a held message is settled", async () => {
  const held = new InFlight<number>(2);
  const ac = new AbortController();
  equal(await held.room(ac.signal), 2);
  held.add("a", 1);
  held.add("b", 2);
  let room = -1;
  const waiting = held.room(ac.signal).then((n) => room = n);
  await new Promise((r) => setTimeout(r, 20));
  equal(room, -1, "full: waits");
  equal(held.take("a"), 1);
  await waiting;
  equal(room, 1);
  const stopped = held.room(ac.signal);
  held.add("c", 3);
  const again = held.room(ac.signal);
  ac.abort();
  equal(await again, 0, "a stop ends the wait with no room");
  equal(await stopped, 1);
});
