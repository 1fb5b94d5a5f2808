import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import splunk from "../../plugins/splunk.ts";
import { stoqAPI } from "../../core/engine/api.ts";
import { instantiate, makeCall, tempDir } from "../helpers.ts";
import { runStoq, show } from "../cli_helpers.ts";
import {
  json,
  realScan,
  type SeenRequest,
  serve,
  testCertificates,
  type TestServer,
} from "./storage_helpers.ts";

const TOKEN = "12345678-9abc-def0-1234-56789abcdef0";

/**
 * No Splunk can run here, so this server stands in for HTTP Event Collector. It checks each
 * request as HEC does — `POST /services/collector/event`, `Authorization: Splunk <token>`, a JSON
 * event envelope whose `event` is present and not blank, `time` a number, `host`/`source`/
 * `sourcetype`/`index` strings, the index one the token may write to, a channel header when
 * indexer acknowledgement is on — and answers with HEC's documented status codes and bodies:
 * `{"text":"Success","code":0}`, `Token is required` (2), `Invalid authorization` (3),
 * `Invalid token` (4), `No data` (5), `Invalid data format` (6), `Incorrect index` (7),
 * `Data channel is missing` (10), `Event field is required` (12), `Event field cannot be blank`
 * (13), and under `busy`, `Internal server error` (8) or `Server is busy` (9).
 */
interface FakeHec extends TestServer {
  events: Record<string, unknown>[];
}

function fakeHec(o: {
  indexes?: string[];
  requireChannel?: boolean;
  busy?: (n: number) => 500 | 503 | undefined;
  tls?: { cert: string; key: string };
} = {}): FakeHec {
  const events: Record<string, unknown>[] = [];
  let n = 0;
  const hec = (status: number, text: string, code: number, extra: Record<string, unknown> = {}) =>
    json(status, { text, code, ...extra });
  const server = serve((req: SeenRequest) => {
    if (req.method !== "POST" || req.path !== "/services/collector/event") {
      return new Response("Not Found", { status: 404 });
    }
    const auth = req.headers.get("authorization");
    if (!auth) return hec(401, "Token is required", 2);
    if (!auth.startsWith("Splunk ")) return hec(401, "Invalid authorization", 3);
    if (auth !== `Splunk ${TOKEN}`) return hec(403, "Invalid token", 4);
    if (o.requireChannel && !req.headers.get("x-splunk-request-channel")) {
      return hec(400, "Data channel is missing", 10);
    }
    const busy = o.busy?.(n++);
    if (busy === 503) return hec(503, "Server is busy", 9);
    if (busy === 500) return hec(500, "Internal server error", 8);
    if (req.body.length === 0) return hec(400, "No data", 5);
    let ev: Record<string, unknown>;
    try {
      ev = JSON.parse(req.text);
    } catch {
      return hec(400, "Invalid data format", 6, { "invalid-event-number": 0 });
    }
    if (!("event" in ev)) {
      return hec(400, "Event field is required", 12, { "invalid-event-number": 0 });
    }
    if (ev.event === "" || ev.event === null) {
      return hec(400, "Event field cannot be blank", 13, { "invalid-event-number": 0 });
    }
    const strings = ["host", "source", "sourcetype", "index"].every((k) =>
      ev[k] === undefined || typeof ev[k] === "string"
    );
    if (!strings || (ev.time !== undefined && typeof ev.time !== "number")) {
      return hec(400, "Invalid data format", 6, { "invalid-event-number": 0 });
    }
    const index = (ev.index as string | undefined) ?? "main";
    if (!(o.indexes ?? ["main"]).includes(index)) {
      return hec(400, "Incorrect index", 7, { "invalid-event-number": 0 });
    }
    events.push(ev);
    return hec(200, "Success", 0);
  }, o.tls);
  return { ...server, events };
}

const FAST = { retry_delay: 0.01 };

Deno.test("splunk: a real scan is sent as one HEC event with time, host, source, sourcetype, index", async () => {
  const hec = fakeHec({ indexes: ["main", "malware"] });
  const scan = await realScan();
  const { instance, call } = await instantiate(splunk, {
    url: hec.url,
    token: TOKEN,
    index: "malware",
    host: "sensor-1",
  });
  try {
    await instance.save!(scan.response, call);
    equal(hec.events.length, 1);
    deepEqual(hec.events[0], {
      time: Date.parse(scan.response.time) / 1000,
      host: "sensor-1",
      source: "stoq",
      sourcetype: "_json",
      index: "malware",
      event: JSON.parse(JSON.stringify(scan.response)),
    });
    equal(hec.seen[0].headers.get("content-type"), "application/json");
    equal(hec.seen[0].headers.get("x-splunk-request-channel"), null);
  } finally {
    await instance.close?.();
    await hec.close();
  }
  // Defaults: the machine's host name, no index (the token's default index).
  const hec2 = fakeHec();
  const { instance: plain } = await instantiate(splunk, { url: hec2.url, token: TOKEN });
  try {
    await plain.save!(scan.response, makeCall());
    equal(hec2.events[0].host, Deno.hostname());
    ok(!("index" in hec2.events[0]));
  } finally {
    await plain.close?.();
    await hec2.close();
  }
});

Deno.test("splunk: the token comes from STOQ_SPLUNK_TOKEN; none at all is a clear error", async () => {
  const hec = fakeHec();
  const scan = await realScan();
  Deno.env.set("STOQ_SPLUNK_TOKEN", TOKEN);
  try {
    const { instance } = await instantiate(splunk, { url: hec.url });
    await instance.save!(scan.response, makeCall());
    await instance.close?.();
    equal(hec.events.length, 1);
    equal(hec.seen[0].headers.get("authorization"), `Splunk ${TOKEN}`);
  } finally {
    Deno.env.delete("STOQ_SPLUNK_TOKEN");
    await hec.close();
  }
  await rejects(
    () => instantiate(splunk, { url: hec.url }),
    /no HEC token: set the option token or .*STOQ_SPLUNK_TOKEN/,
  );
});

Deno.test("splunk: HEC refusals are errors with HEC's text and code, not retried", async () => {
  const scan = await realScan();
  const hec = fakeHec({ requireChannel: true });
  try {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ token: "wrong-token" }, /refused scan .*: Invalid token \(HEC code 4, HTTP 403\)$/],
      [{ token: TOKEN }, /Data channel is missing \(HEC code 10, HTTP 400\)$/],
      [
        { token: TOKEN, channel: crypto.randomUUID(), index: "secret" },
        /Incorrect index \(HEC code 7, HTTP 400\)$/,
      ],
    ];
    for (const [o, re] of cases) {
      const before = hec.seen.length;
      const { instance } = await instantiate(splunk, { url: hec.url, ...FAST, ...o });
      await rejects(async () => await instance.save!(scan.response, makeCall()), (e: Error) => {
        ok(re.test(e.message), e.message);
        ok(!e.message.includes("wrong-token") && !e.message.includes(TOKEN), e.message);
        return true;
      });
      await instance.close?.();
      equal(hec.seen.length, before + 1, "a refusal is not retried");
    }
    // With the channel the same event is accepted.
    const { instance } = await instantiate(splunk, {
      url: hec.url,
      token: TOKEN,
      channel: crypto.randomUUID(),
    });
    await instance.save!(scan.response, makeCall());
    await instance.close?.();
    equal(hec.events.length, 1);
  } finally {
    await hec.close();
  }
});

Deno.test("splunk: a busy or failing HEC (503, 500) is retried with backoff, up to max_retries", async () => {
  const scan = await realScan();
  const hec = fakeHec({ busy: (n) => n === 0 ? 503 : n === 1 ? 500 : undefined });
  try {
    const { instance } = await instantiate(splunk, { url: hec.url, token: TOKEN, ...FAST });
    await instance.save!(scan.response, makeCall());
    await instance.close?.();
    equal(hec.seen.length, 3);
    equal(hec.events.length, 1);
  } finally {
    await hec.close();
  }
  const down = fakeHec({ busy: () => 503 });
  try {
    const { instance } = await instantiate(splunk, {
      url: down.url,
      token: TOKEN,
      max_retries: 2,
      ...FAST,
    });
    await rejects(
      async () => await instance.save!(scan.response, makeCall()),
      /refused scan [0-9a-f-]+ after 3 attempts: Server is busy \(HEC code 9, HTTP 503\)$/,
    );
    await instance.close?.();
    equal(down.seen.length, 3);
  } finally {
    await down.close();
  }
  // Nothing listening: a network error, retried, then reported.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dead = `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
  l.close();
  const { instance } = await instantiate(splunk, {
    url: dead,
    token: TOKEN,
    max_retries: 1,
    ...FAST,
  });
  await rejects(
    async () => await instance.save!(scan.response, makeCall()),
    new RegExp(`splunk: cannot reach ${dead}/services/collector/event: .*\\(2 attempts\\)`),
  );
  await instance.close?.();
});

Deno.test("splunk: TLS with a private CA: refused by default, accepted with ca_cert or verify_tls=false", async () => {
  const tls = await testCertificates();
  const hec = fakeHec({ tls });
  const scan = await realScan();
  try {
    const { instance: strict } = await instantiate(splunk, {
      url: hec.url,
      token: TOKEN,
      max_retries: 0,
    });
    await rejects(
      async () => await strict.save!(scan.response, makeCall()),
      /cannot reach https:.*certificate/i,
    );
    await strict.close?.();
    for (const o of [{ ca_cert: tls.caPath }, { verify_tls: false }]) {
      const { instance } = await instantiate(splunk, { url: hec.url, token: TOKEN, ...o });
      await instance.save!(scan.response, makeCall());
      await instance.close?.();
    }
    equal(hec.events.length, 2);
  } finally {
    await hec.close();
  }
});

Deno.test("splunk: options are checked", () => {
  const schema = splunk(stoqAPI).optionsSchema;
  equal(schema.parse({}).url, "https://localhost:8088");
  for (const bad of [{ url: "localhost:8088" }, { channel: "not-a-uuid" }, { max_retries: -1 }]) {
    ok(!schema.safeParse(bad).success, JSON.stringify(bad));
  }
});

Deno.test("splunk: ./stoq scan -C splunk sends the event; a wrong token fails without showing it", async () => {
  const hec = fakeHec();
  const scan = await realScan();
  try {
    const args = ["scan", scan.zipPath, "-a", "hash", "-C", "splunk"];
    const r = await runStoq([...args, "--plugin-opts", `splunk:url=${hec.url}`], {
      env: { STOQ_SPLUNK_TOKEN: TOKEN },
    });
    equal(r.code, 0, show(r));
    equal(hec.events.length, 1);
    const event = hec.events[0].event as { results: { workers: { hash: { sha256: string } } }[] };
    equal(event.results[0].workers.hash.sha256, scan.zip.sha256);

    // No retries by the core, so the run ends at once; the token must not appear anywhere.
    const cfg = join(await tempDir(), "stoq.toml");
    await Deno.writeTextFile(cfg, "[core]\nconnector_retries = 0\n");
    const bad = await runStoq(
      [...args, "--config", cfg, "--plugin-opts", `splunk:url=${hec.url}`, "splunk:max_retries=0"],
      { env: { STOQ_SPLUNK_TOKEN: "leaky-secret-token" } },
    );
    ok(/Invalid token \(HEC code 4, HTTP 403\)/.test(bad.stderr + bad.stdout), show(bad));
    ok(!(bad.stderr + bad.stdout).includes("leaky-secret-token"), show(bad));
    equal(hec.events.length, 1);
  } finally {
    await hec.close();
  }
});
