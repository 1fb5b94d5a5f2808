/** The engine keeps every name of content extracted more than once (extra_data.filenames). */
import { deepEqual, equal } from "node:assert/strict";
import type { StoqAPI } from "../../core/engine/plugin.ts";
import { input, testEngine } from "./harness.ts";

const extractor = (names: (string | undefined)[]) => (stoq: StoqAPI) =>
  stoq.plugin({
    name: "same_bytes",
    version: "1",
    description: "extracts the same bytes under several names",
    classes: ["worker"],
    create: () => ({
      scan: () => ({
        extracted: names.map((n) => ({
          content: "identical member",
          payload_meta: n === undefined ? {} : { extra_data: { filename: n } },
        })),
      }),
    }),
  });

Deno.test("content extracted under several names keeps every name, once each, first first", async () => {
  const engine = await testEngine({
    plugins: [extractor(["a.txt", "b.exe", "a.txt", undefined, "c.doc", "b.exe"])],
    pipeline: { always_dispatch: [] },
  });
  const r = await engine.scan([input("archive")], { start_dispatch: ["same_bytes"] });
  equal(r.results.length, 2);
  deepEqual(r.results[1].payload_meta.extra_data, {
    filename: "a.txt",
    filenames: ["a.txt", "b.exe", "c.doc"],
  });
});

Deno.test("one name stays one name; the list is capped at 100", async () => {
  const one = await testEngine({
    plugins: [extractor(["only.txt", "only.txt"])],
    pipeline: { always_dispatch: [] },
  });
  const r1 = await one.scan([input("archive")], { start_dispatch: ["same_bytes"] });
  deepEqual(r1.results[1].payload_meta.extra_data, { filename: "only.txt" });
  const many = await testEngine({
    plugins: [extractor(Array.from({ length: 150 }, (_, i) => `n${i}`))],
    pipeline: { always_dispatch: [] },
  });
  const r2 = await many.scan([input("archive")], { start_dispatch: ["same_bytes"] });
  const names = r2.results[1].payload_meta.extra_data.filenames as string[];
  equal(names.length, 100);
  deepEqual(names.slice(0, 2), ["n0", "n1"]);
});
