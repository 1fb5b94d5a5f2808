/**
 * At-least-once delivery in the run loop: a provider hears `ack` only once a result is safe
 * (saved by every connector, or kept in the dead-letter folder) and `nack` otherwise; failing
 * connectors are retried with backoff, then dead-lettered, never dropped.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { RequestMetaSchema, type StoqResponse } from "../../core/engine/model.ts";
import type { PluginFactory } from "../../core/engine/plugin.ts";
import {
  localScanner,
  providerProducer,
  type RunContext,
  runQueue,
} from "../../core/run/runner.ts";
import { testStoq } from "../engine/harness.ts";
import { tempDir } from "../helpers.ts";

/** A provider that queues `items` texts (or a bad path) with a delivery that records events. */
function ackingProvider(events: string[], items: string[]): PluginFactory {
  return (stoq) =>
    stoq.plugin({
      name: "acking_provider",
      version: "1",
      description: "queues items and records acks",
      classes: ["provider"],
      create: () => ({
        async ingest(queue) {
          for (const text of items) {
            const item = text.startsWith("/")
              ? { path: text }
              : { content: new TextEncoder().encode(text), payload_meta: {} };
            await queue.put(item, {
              ack: (o) => void events.push(`ack ${text}${o.dead_lettered ? " dead-lettered" : ""}`),
              nack: (why) => void events.push(`nack ${text}: ${why}`),
            });
          }
        },
      }),
    });
}

/** A connector that fails its first `failures` saves (all of them with -1), then records. */
function flakyConnector(
  failures: number,
  saved: StoqResponse[],
  attempts: number[],
): PluginFactory {
  return (stoq) =>
    stoq.plugin({
      name: "flaky_connector",
      version: "1",
      description: "fails, then saves",
      classes: ["connector"],
      create: () => ({
        save(response) {
          attempts.push(Date.now());
          if (failures < 0 || attempts.length <= failures) throw new Error("database is down");
          saved.push(response);
        },
      }),
    });
}

async function run(failures: number, items: string[], core: Record<string, unknown> = {}) {
  const events: string[] = [];
  const saved: StoqResponse[] = [];
  const attempts: number[] = [];
  const home = await tempDir();
  const stoq = await testStoq({
    plugins: [ackingProvider(events, items), flakyConnector(failures, saved, attempts)],
    core: { connector_retries: 2, connector_retry_delay: 0.05, ...core },
  });
  stoq.init.home = home;
  const ctx: RunContext = {
    stoq,
    scanner: localScanner(stoq),
    connectors: ["flaky_connector"],
    request_meta: RequestMetaSchema.parse({}),
    start_dispatch: [],
    source_archivers: [],
    consumers: 1,
  };
  const summary = await runQueue(
    ctx,
    [providerProducer(stoq.host, "acking_provider")],
    { signal: new AbortController().signal, hard: new AbortController().signal },
    4,
  );
  return { summary, events, saved, attempts, home };
}

Deno.test("delivery: ack comes after the connector saved; a flaky connector is retried with backoff", async () => {
  const { summary, events, saved, attempts } = await run(2, ["one"]);
  deepEqual(summary, { scanned: 1, failed: 0, abandoned: 0 });
  deepEqual(events, ["ack one"]);
  equal(saved.length, 1);
  equal(attempts.length, 3, "two failures, then the save");
  // Backoff doubles: 50 ms, then 100 ms.
  ok(attempts[1] - attempts[0] >= 45, `first wait ${attempts[1] - attempts[0]} ms`);
  ok(attempts[2] - attempts[1] >= 95, `second wait ${attempts[2] - attempts[1]} ms`);
  deepEqual(saved[0].errors, [], "a save that succeeded on retry leaves no error behind");
});

Deno.test("delivery: a connector that keeps failing dead-letters the result, which is then acked", async () => {
  const { events, saved, attempts, home } = await run(-1, ["lost?"]);
  equal(saved.length, 0);
  equal(attempts.length, 3, "the first try and two retries");
  deepEqual(events, ["ack lost? dead-lettered"]);
  const dir = join(home, "dead-letter");
  const files = [...Deno.readDirSync(dir)].map((e) => e.name);
  equal(files.length, 1);
  match(files[0], /^[0-9a-f-]{36}\.json$/);
  const kept = JSON.parse(await Deno.readTextFile(join(dir, files[0])));
  deepEqual(kept.failed_connectors, ["flaky_connector"]);
  equal(kept.response.scan_id + ".json", files[0]);
  equal(kept.response.results.length, 1);
  match(kept.response.errors[0].error, /connector:failed to save: .*database is down/);
});

Deno.test("delivery: dead_letter_dir is configurable; when it cannot be written the item is nacked", async () => {
  const dir = join(await tempDir(), "dl");
  const ok1 = await run(-1, ["a"], { dead_letter_dir: dir, connector_retries: 0 });
  deepEqual(ok1.events, ["ack a dead-lettered"]);
  equal([...Deno.readDirSync(dir)].length, 1);
  const blocked = join(await tempDir(), "file");
  await Deno.writeTextFile(blocked, "not a folder");
  const bad = await run(-1, ["b"], { dead_letter_dir: blocked, connector_retries: 0 });
  equal(bad.events.length, 1);
  match(bad.events[0], /^nack b: result of scan [0-9a-f-]+ not saved: /);
});

Deno.test("delivery: an item that cannot be scanned is nacked with the reason", async () => {
  const { summary, events } = await run(0, ["/no/such/file", "fine"]);
  deepEqual(summary, { scanned: 1, failed: 1, abandoned: 0 });
  equal(events.length, 2);
  match(events[0], /^nack \/no\/such\/file: not scanned: .*No such file/);
  equal(events[1], "ack fine");
});

Deno.test("delivery: an input over max_payload_size is recorded but nacked, so the provider keeps it", async () => {
  const dir = await tempDir();
  const big = join(dir, "big.bin");
  await Deno.writeFile(big, new Uint8Array(4096));
  const { summary, events, saved } = await run(0, [big, "small"], { max_payload_size: 1024 });
  deepEqual(summary, { scanned: 2, failed: 0, abandoned: 0 });
  equal(saved.length, 2, "the result saying why it was not scanned is still saved");
  equal(events.length, 2);
  match(
    events[0],
    /^nack .*big\.bin: .*is 4096 bytes, over max_payload_size \(1024\); not read or scanned$/,
  );
  equal(events[1], "ack small");
});
