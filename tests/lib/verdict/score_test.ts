/**
 * The verdict's scoring on result documents built here: points by severity, overrides (most
 * specific key first), a finding repeated on other payloads counted once, the thresholds, the
 * payload path, `unknown` when nothing analysed the root, and malformed findings skipped.
 */
import { deepEqual, equal, match } from "node:assert/strict";
import { VerdictSchema } from "../../../core/engine/model.ts";
import type { StoqResponse } from "../../../core/engine/plugin.ts";
import { DEFAULT_SCORING, judge, MAX_FINDINGS } from "../../../plugins/lib/verdict/score.ts";

interface P {
  id: string;
  name?: string;
  from?: string[];
  workers?: Record<string, unknown>;
  ran?: string[];
}

function doc(payloads: P[], errors: StoqResponse["errors"] = []): StoqResponse {
  return {
    results: payloads.map((p) => ({
      size: 1,
      payload_id: p.id,
      payload_meta: {
        should_archive: true,
        should_scan: true,
        extra_data: p.name ? { filename: p.name } : {},
        dispatch_to: [],
      },
      plugins_run: { workers: p.ran ?? ["hash"], archivers: [] },
      extracted_from: p.from ?? [],
      extracted_by: [],
      workers: p.workers ?? {},
      archivers: {},
    })),
    request_meta: { archive_payloads: true, source: null, extra_data: {} },
    errors,
    time: "2026-12-01T00:00:00.000Z",
    decorators: {},
    scan_id: "s",
  };
}

const f = (id: string, severity: string, extra: Record<string, unknown> = {}) => ({
  id,
  severity,
  title: `title of ${id}`,
  detail: `detail of ${id}`,
  ...extra,
});

Deno.test("verdict: no findings is clean with score 0, and the result fits VerdictSchema", () => {
  const v = judge(doc([{ id: "a", name: "a.txt" }]));
  deepEqual(v, {
    score: 0,
    verdict: "clean",
    reason: "no plugin reported a finding",
    thresholds: { suspicious: 20, malicious: 100 },
    findings: [],
    findings_total: 0,
    errors: 0,
  });
  equal(VerdictSchema.safeParse(v).success, true);
});

Deno.test("verdict: points by severity, summed; thresholds make suspicious and malicious", () => {
  const one = (sev: string) =>
    judge(doc([{ id: "a", name: "a", workers: { w: { findings: [f("x", sev)] } } }]));
  deepEqual(
    ["info", "low", "medium", "high", "critical"].map((s) => [one(s).score, one(s).verdict]),
    [[0, "clean"], [5, "clean"], [20, "suspicious"], [50, "suspicious"], [100, "malicious"]],
  );
  const two = judge(doc([{
    id: "a",
    name: "a",
    workers: { w: { findings: [f("x", "high"), f("y", "high")] } },
  }]));
  equal(two.score, 100);
  equal(two.verdict, "malicious");
  match(two.reason, /^score 100 reaches malicious \(100\); 2 findings, each counted$/);
  equal(VerdictSchema.safeParse(two).success, true);
});

Deno.test("verdict: each finding says its plugin, points, why and the path of its payload", () => {
  const v = judge(doc([
    { id: "root", name: "mail.eml", workers: { email: { findings: [f("reply_to", "medium")] } } },
    { id: "att", name: "invoice.xls", from: ["root"] },
    {
      id: "vba",
      name: "Module1.bas",
      from: ["att"],
      workers: {
        vba: { findings: [f("autoexec", "high", { mitre: ["T1204.002"] })] },
      },
    },
  ]));
  deepEqual(v.findings, [
    {
      plugin: "vba",
      id: "autoexec",
      severity: "high",
      points: 50,
      why: "high: 50 points",
      title: "title of autoexec",
      detail: "detail of autoexec",
      mitre: ["T1204.002"],
      path: ["mail.eml", "invoice.xls", "Module1.bas"],
      payload_id: "vba",
      occurrences: 1,
    },
    {
      plugin: "email",
      id: "reply_to",
      severity: "medium",
      points: 20,
      why: "medium: 20 points",
      title: "title of reply_to",
      detail: "detail of reply_to",
      path: ["mail.eml"],
      payload_id: "root",
      occurrences: 1,
    },
  ]);
  equal(v.score, 70);
  equal(v.verdict, "suspicious");
});

Deno.test("verdict: a finding repeated on other payloads counts once, its strongest instance", () => {
  const payloads: P[] = [{ id: "zip", name: "bundle.zip" }];
  for (let i = 0; i < 30; i++) {
    payloads.push({
      id: `m${i}`,
      name: `m${i}.doc`,
      from: ["zip"],
      workers: { vba: { findings: [f("macro", i === 7 ? "high" : "low")] } },
    });
  }
  const v = judge(doc(payloads));
  equal(v.score, 50);
  equal(v.findings.length, 1);
  equal(v.findings[0].occurrences, 30);
  deepEqual(v.findings[0].path, ["bundle.zip", "m7.doc"]);
  match(v.reason, /30 findings, 29 repeated on other payloads \(counted once\)/);
  // Another plugin's finding of the same id is another finding.
  const w = judge(doc([{
    id: "a",
    name: "a",
    workers: { one: { findings: [f("x", "low")] }, two: { findings: [f("x", "low")] } },
  }]));
  equal(w.score, 10);
});

Deno.test("verdict: overrides by plugin:id, plugin:* or id, in that order; points or severity", () => {
  const d = doc([{
    id: "a",
    name: "a",
    workers: {
      pe: { findings: [f("overlay", "medium"), f("tls_callbacks", "low")] },
      yara: { findings: [f("overlay", "medium"), f("eicar", "critical")] },
    },
  }]);
  const v = judge(d, {
    ...DEFAULT_SCORING,
    overrides: { "pe:overlay": 0, "yara:*": "info", overlay: 7, "tls_callbacks": "critical" },
  });
  const by = Object.fromEntries(v.findings.map((x) => [`${x.plugin}:${x.id}`, [x.points, x.why]]));
  deepEqual(by, {
    "pe:overlay": [0, 'override "pe:overlay": 0 points'],
    "pe:tls_callbacks": [100, 'override "tls_callbacks" = critical: 100 points'],
    "yara:overlay": [0, 'override "yara:*" = info: 0 points'],
    "yara:eicar": [0, 'override "yara:*" = info: 0 points'],
  });
  equal(v.score, 100);
  // Severity points and thresholds are options too.
  const strict = judge(d, {
    ...DEFAULT_SCORING,
    points: { info: 0, low: 1, medium: 2, high: 3, critical: 4 },
    suspicious: 3,
    malicious: 50,
  });
  deepEqual([strict.score, strict.verdict], [9, "suspicious"]);
});

Deno.test("verdict: top caps the list, not the score; findings_total counts them all", () => {
  const findings = Array.from({ length: 15 }, (_, i) => f(`f${i}`, i < 5 ? "medium" : "low"));
  const v = judge(doc([{ id: "a", name: "a", workers: { w: { findings } } }]), {
    ...DEFAULT_SCORING,
    top: 3,
  });
  equal(v.score, 5 * 20 + 10 * 5);
  equal(v.findings.length, 3);
  equal(v.findings_total, 15);
  deepEqual(v.findings.map((x) => x.id), ["f0", "f1", "f2"]);
});

Deno.test("verdict: unknown when no worker analysed the root; errors are counted", () => {
  const err = {
    error: "payload of 300 bytes is over max_payload_size (100 bytes): not scanned",
    plugin_name: null,
    payload_id: "a",
  };
  const v = judge(doc([{ id: "a", name: "big.bin", ran: [] }], [err]));
  equal(v.verdict, "unknown");
  equal(v.reason, `no worker analysed the root payload (${err.error})`);
  equal(v.errors, 1);
  equal(judge(doc([])).verdict, "unknown");
});

Deno.test("verdict: malformed findings are skipped; a flood is cut at MAX_FINDINGS", () => {
  const v = judge(doc([{
    id: "a",
    name: "a",
    workers: {
      w: {
        findings: [
          null,
          "text",
          f("Bad Id", "high"),
          f("x", "severe"),
          { id: "y", severity: "high", title: 1, detail: "d" },
          f("ok", "medium", { mitre: ["T1", 5] }),
        ],
      },
      v: { findings: "not a list" },
      u: null,
    },
  }]));
  deepEqual(v.findings.map((x) => [x.id, x.mitre]), [["ok", ["T1"]]]);
  equal(v.findings_total, 1);
  const flood = Array.from({ length: MAX_FINDINGS + 50 }, (_, i) => f(`f${i}`, "info"));
  const w = judge(doc([{ id: "a", name: "a", workers: { w: { findings: flood } } }]));
  equal(w.findings_total, MAX_FINDINGS);
  match(w.reason, new RegExp(`the first ${MAX_FINDINGS} findings`));
});

Deno.test("verdict: a payload's path follows its first parent, unnamed ones by position", () => {
  const v = judge(doc([
    { id: "r" },
    { id: "c", from: ["r", "x"], workers: { w: { findings: [f("a", "low")] } } },
    // A chain that loops stops where it repeats.
    { id: "l1", name: "l1", from: ["l2"], workers: { w: { findings: [f("b", "low")] } } },
    { id: "l2", name: "l2", from: ["l1"] },
  ]));
  deepEqual(v.findings.map((x) => x.path), [["payload 0", "payload 1"], ["l2", "l1"]]);
});
