import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { WorkerResponse } from "../../core/engine/plugin.ts";
import clamav, { parseReport, parseSocket } from "../../plugins/clamav.ts";
import {
  instantiate,
  makeCall,
  makePayload,
  makeRequest,
  sh,
  tempDir,
  withoutTools,
} from "../helpers.ts";

const TOOLS = { clamscan: "clamav" };

// The standard antivirus test file; ClamAV knows it only from a database, so ours lists it.
const EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
const MARKER = "stoq-clamav-hex-marker";
const MARKER2 = "second-stoq-marker";
const hex = (s: string) =>
  Array.from(new TextEncoder().encode(s), (b) => b.toString(16).padStart(2, "0")).join("");
const md5 = (b: Uint8Array | string) => createHash("md5").update(b).digest("hex");
const size = (b: Uint8Array | string) =>
  typeof b === "string" ? new TextEncoder().encode(b).length : b.length;

interface Fixtures {
  dir: string;
  db: string;
  files: Record<string, string>;
}

let fixtures: Promise<Fixtures> | undefined;
/**
 * A zip made by zip, text holding the markers, EICAR and /usr/bin/ls; and a database folder with
 * an .hdb (MD5 of the zip and of EICAR) and an .ndb (the markers as hex body signatures).
 */
function makeFixtures(): Promise<Fixtures> {
  return fixtures ??= (async () => {
    const dir = await tempDir("stoq-clamav-");
    await Deno.writeTextFile(join(dir, "note.txt"), "a note for the clamav test\n".repeat(20));
    await sh("zip", ["-q", "note.zip", "note.txt"], dir);
    const zip = await Deno.readFile(join(dir, "note.zip"));
    await Deno.writeTextFile(join(dir, "marked.txt"), `plain text with ${MARKER} inside\n`);
    await Deno.writeTextFile(join(dir, "both.txt"), `${MARKER} and ${MARKER2}\n`);
    await Deno.writeTextFile(join(dir, "eicar.com"), EICAR);
    const db = join(dir, "db");
    await Deno.mkdir(db);
    await Deno.writeTextFile(
      join(db, "stoq.hdb"),
      `${md5(zip)}:${zip.length}:Stoq.Test.Zip\n${md5(EICAR)}:${
        size(EICAR)
      }:Eicar-Test-Signature\n`,
    );
    await Deno.writeTextFile(
      join(db, "stoq.ndb"),
      `Stoq.Test.Hex:0:*:${hex(MARKER)}\nStoq.Test.Hex2:0:*:${hex(MARKER2)}\n`,
    );
    return {
      dir,
      db,
      files: {
        zip: join(dir, "note.zip"),
        marked: join(dir, "marked.txt"),
        both: join(dir, "both.txt"),
        eicar: join(dir, "eicar.com"),
        clean: join(dir, "note.txt"),
        elf: "/usr/bin/ls",
      },
    };
  })();
}

/** Runs the worker with `options` on `content`. */
async function scan(
  options: Record<string, unknown>,
  content: Uint8Array | string,
  timeoutMs?: number,
): Promise<WorkerResponse> {
  const { instance } = await instantiate(clamav, options);
  const p = makePayload(content);
  return (await instance.scan!(p, makeRequest(p), makeCall(TOOLS, timeoutMs))) as WorkerResponse;
}

/** clamscan's own verdict on a file: the signature names it prints. */
async function reference(db: string, path: string, allmatch = false): Promise<string[]> {
  const out = await new Deno.Command("clamscan", {
    args: ["--no-summary", `--database=${db}`, ...(allmatch ? ["--allmatch"] : []), path],
    stdout: "piped",
  }).output();
  ok(out.code === 0 || out.code === 1, `clamscan ${path} exit ${out.code}`);
  const names = new TextDecoder().decode(out.stdout).split("\n")
    .map((l) => / (\S+) FOUND$/.exec(l)?.[1]).filter((n): n is string => n !== undefined);
  return [...new Set(names)];
}

/** The result for `names`: every signature here is a malware signature (one critical finding). */
function verdict(names: string[]) {
  const findings = names.length
    ? [{
      id: "infected",
      severity: "critical",
      title: "ClamAV: malware signature",
      detail: names.join(", "),
    }]
    : [];
  return { infected: names.length > 0, signatures: names, findings };
}

Deno.test("clamav: parseSocket and parseReport", () => {
  deepEqual(parseSocket("/run/clamav/clamd.ctl"), {
    transport: "unix",
    path: "/run/clamav/clamd.ctl",
  });
  deepEqual(parseSocket("clamd.sock"), { transport: "unix", path: "clamd.sock" });
  deepEqual(parseSocket("127.0.0.1:3310"), { hostname: "127.0.0.1", port: 3310 });
  deepEqual(parseSocket("[::1]:3310"), { hostname: "::1", port: 3310 });
  deepEqual(parseSocket("av.example:3310"), { hostname: "av.example", port: 3310 });
  deepEqual(parseReport("stream: OK\0"), { infected: false, signatures: [], findings: [] });
  deepEqual(parseReport("stdin: A.B FOUND\nstdin: C FOUND\nstdin: A.B FOUND\n"), {
    infected: true,
    signatures: ["A.B", "C"],
    findings: [{
      id: "infected",
      severity: "critical",
      title: "ClamAV: malware signature",
      detail: "A.B, C",
    }],
  });
  // Potentially unwanted programs and heuristics weigh less than a malware signature.
  deepEqual(
    parseReport(
      "stdin: PUA.Win.Tool.Packed-1 FOUND\nstdin: Heuristics.Encrypted.Zip FOUND\n" +
        "stdin: Win.Trojan.Agent-1 FOUND\nstdin: PUA.Doc.Tool.X FOUND\n",
    ),
    {
      infected: true,
      signatures: [
        "PUA.Win.Tool.Packed-1",
        "Heuristics.Encrypted.Zip",
        "Win.Trojan.Agent-1",
        "PUA.Doc.Tool.X",
      ],
      findings: [
        {
          id: "infected",
          severity: "critical",
          title: "ClamAV: malware signature",
          detail: "Win.Trojan.Agent-1",
        },
        {
          id: "pua",
          severity: "medium",
          title: "ClamAV: potentially unwanted program",
          detail: "PUA.Win.Tool.Packed-1, PUA.Doc.Tool.X",
        },
        {
          id: "heuristic",
          severity: "low",
          title: "ClamAV: heuristic detection",
          detail: "Heuristics.Encrypted.Zip",
        },
      ],
    },
  );
  deepEqual(parseReport("INSTREAM size limit exceeded. ERROR\0"), {
    errors: ["INSTREAM size limit exceeded. ERROR"],
  });
});

Deno.test("clamav: clamscan with a built database agrees with clamscan on the files", async () => {
  const { db, files } = await makeFixtures();
  const expected: Record<string, string[]> = {
    zip: ["Stoq.Test.Zip.UNOFFICIAL"],
    marked: ["Stoq.Test.Hex.UNOFFICIAL"],
    eicar: ["Eicar-Test-Signature.UNOFFICIAL"],
    clean: [],
    elf: [],
  };
  for (const [kind, names] of Object.entries(expected)) {
    const res = await scan({ database: db }, await Deno.readFile(files[kind]));
    deepEqual(res, { results: verdict(names) }, kind);
    deepEqual(await reference(db, files[kind]), names, `${kind}: clamscan on the file`);
  }
  deepEqual(await scan({ database: join(db, "stoq.ndb") }, await Deno.readFile(files.marked)), {
    results: verdict(["Stoq.Test.Hex.UNOFFICIAL"]),
  }, "a single database file");
  deepEqual(await scan({ database: db }, ""), { results: verdict([]) });
});

Deno.test("clamav: all_matches lists every signature, as clamscan --allmatch", async () => {
  const { db, files } = await makeFixtures();
  const content = await Deno.readFile(files.both);
  const one = (await scan({ database: db }, content)).results as { signatures: string[] };
  equal(one.signatures.length, 1);
  const all = await scan({ database: db, all_matches: true }, content);
  const names = await reference(db, files.both, true);
  deepEqual(names.toSorted(), ["Stoq.Test.Hex.UNOFFICIAL", "Stoq.Test.Hex2.UNOFFICIAL"]);
  deepEqual(all, { results: verdict(names) });
});

Deno.test("clamav: clamscan errors: no database, a malformed one, no clamscan", async () => {
  const { dir } = await makeFixtures();
  const empty = await tempDir();
  const none = await scan({ database: empty }, "x");
  equal(none.errors?.length, 1);
  ok(
    String(none.errors![0]).startsWith(
      "clamscan found no signature database: run freshclam, set database, or start clamd (clamscan: ",
    ) && String(none.errors![0]).includes(empty),
    String(none.errors),
  );
  const bad = join(dir, "bad.hdb");
  await Deno.writeTextFile(bad, "not a signature line\n");
  await rejects(
    scan({ database: bad }, "x"),
    /^Error: clamscan failed \(exit 2\): .*Malformed database/,
  );
  await rejects(
    scan({ database: join(dir, "missing") }, "x"),
    /^Error: clamscan failed \(exit 2\): .*missing/,
  );
  const { instance } = await instantiate(clamav, { database: empty });
  const p = makePayload("x");
  await rejects(
    Promise.resolve(instance.scan!(p, makeRequest(p), await withoutTools(makeCall(TOOLS)))),
    /clamscan is not installed: install the Debian package clamav/,
  );
});

Deno.test("clamav: without signatures, clamscan runs once and the error is said once per scan", async () => {
  const empty = await tempDir();
  const { instance } = await instantiate(clamav, { database: empty, prefer_clamd: false });
  let runs = 0;
  const base = makeCall(TOOLS);
  const call = { ...base, exec: (...a: Parameters<typeof base.exec>) => (runs++, base.exec(...a)) };
  const scanOne = (r: ReturnType<typeof makeRequest>, p: ReturnType<typeof makePayload>) =>
    instance.scan!(p, r, call) as Promise<WorkerResponse | null>;
  const payloads = ["a", "b", "c"].map((t) => makePayload(t));
  const first = makeRequest(...payloads);
  const answers = [];
  for (const p of payloads) answers.push(await scanOne(first, p));
  equal(answers.filter((a) => a?.errors?.length).length, 1, "one error in the first scan");
  const second = makeRequest(payloads[0]);
  equal((await scanOne(second, payloads[0]))?.errors?.length, 1, "and one in the next scan");
  equal(runs, 1, "clamscan was started once");
});

Deno.test("clamav: options that clamd would ignore are refused", async () => {
  await rejects(instantiate(clamav, { socket: "/x.sock", database: "/db" }), /DatabaseDirectory/);
  await rejects(instantiate(clamav, { socket: "/x.sock", all_matches: true }), /AllMatchScan yes/);
});

Deno.test("clamav: an unreachable clamd is one clear error naming the socket", async () => {
  const dir = await tempDir();
  const sock = join(dir, "none.sock");
  await rejects(scan({ socket: sock }, "x"), (e: Error) => {
    equal(e.message.split("\n").length, 1);
    ok(e.message.startsWith(`clamd is not reachable at ${sock} (`), e.message);
    match(e.message, /start it with "clamd -c/);
    return true;
  });
  // A port nobody listens on.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await rejects(
    scan({ socket: `127.0.0.1:${port}` }, "x"),
    new RegExp(`clamd is not reachable at 127\\.0\\.0\\.1:${port} \\(`),
  );
});

Deno.test("clamav: through clamd (unix socket and TCP): same verdicts, size limit, timeout", async () => {
  const { db, files } = await makeFixtures();
  const run = await tempDir("stoq-clamd-");
  const sock = join(run, "clamd.sock");
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const conf = join(run, "clamd.conf");
  await Deno.writeTextFile(
    conf,
    [
      `LocalSocket ${sock}`,
      `TCPSocket ${port}`,
      "TCPAddr 127.0.0.1",
      `DatabaseDirectory ${db}`,
      `TemporaryDirectory ${run}`,
      "Foreground yes",
      "StreamMaxLength 1M",
      "",
    ].join("\n"),
  );
  const clamd = new Deno.Command("clamd", { args: ["-c", conf], stdout: "null", stderr: "piped" })
    .spawn();
  const log = clamd.stderr.pipeThrough(new TextDecoderStream());
  const logText = (async () => {
    let t = "";
    for await (const c of log) t += c;
    return t;
  })();
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        (await Deno.connect({ transport: "unix", path: sock })).close();
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch (e) {
        if (Date.now() > deadline || (await Promise.race([clamd.status, null])) !== null) {
          clamd.kill("SIGKILL");
          await clamd.status;
          throw new Error(`clamd did not start (${e}): ${await logText}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (const socket of [sock, `127.0.0.1:${port}`]) {
      for (const [kind, path] of Object.entries(files)) {
        const content = await Deno.readFile(path);
        deepEqual(
          await scan({ socket }, content),
          await scan({ database: db }, content),
          `${kind} via ${socket}`,
        );
      }
      deepEqual(await scan({ socket }, ""), { results: verdict([]) });
      // 1 MiB is clamd's StreamMaxLength here; a bit more is refused with its own message.
      const big = new Uint8Array((1 << 20) + 4096).fill(0x41);
      deepEqual(await scan({ socket }, big), {
        errors: [
          `clamd at ${socket}: INSTREAM size limit exceeded (payload of ${big.length} bytes); raise StreamMaxLength in clamd.conf`,
        ],
      });
    }
    // A clamd that does not answer: the call's deadline closes the connection.
    Deno.kill(clamd.pid, "SIGSTOP");
    try {
      await rejects(scan({ socket: sock }, EICAR, 300), (e: Error) => e.name === "TimeoutError");
    } finally {
      Deno.kill(clamd.pid, "SIGCONT");
    }
    deepEqual(await scan({ socket: sock }, EICAR), {
      results: verdict(["Eicar-Test-Signature.UNOFFICIAL"]),
    });
    // No socket set: clamd is used when it answers on one of clamd_sockets (its database
    // finds EICAR; clamscan with Debian's empty signature folder could not).
    deepEqual(await scan({ clamd_sockets: [join(run, "absent.sock"), sock] }, EICAR), {
      results: verdict(["Eicar-Test-Signature.UNOFFICIAL"]),
    });
  } finally {
    try {
      clamd.kill("SIGTERM");
    } catch { /* it had died */ }
    await clamd.status;
    await logText;
  }
});
