/**
 * The imap provider end to end: `./stoq run -P imap -C filedir` against a Dovecot that each test
 * starts on 127.0.0.1 (tests/fixtures/dovecot.ts), with messages built by Python's `email`
 * package and appended with `imaplib`. Each stored result's SHA-256 is compared with the bytes
 * appended; restarts, a server that goes away, failed saves, UIDVALIDITY changes, the after-scan
 * actions and TLS are exercised for real. The state journal has unit
 * tests of its own (tests/lib/provider/imap_state_test.ts).
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { type ResultDoc, sleepyPlugin, writeText } from "../cli_helpers.ts";
import { tempDir } from "../helpers.ts";
import {
  type Appended,
  type Dovecot,
  haveDovecot,
  startDovecot,
  stopAllDovecots,
} from "../fixtures/dovecot.ts";
import { killLeftovers, ResultStore, startStoq, stop, waitFor } from "./queue_helpers.ts";

const PW_ENV = "STOQ_IMAP_TEST_PASSWORD";
const ignore = !(await haveDovecot());
if (ignore) console.error("dovecot is not installed (Debian package dovecot-imapd): skipped");

/** A results folder, $STOQ_HOME and config for runs against `d`. */
async function setup(d: Dovecot, core = "") {
  const root = await tempDir("stoq-imap-");
  const home = join(root, "home");
  const results = join(root, "results");
  const config = await writeText(
    root,
    "stoq.toml",
    `[core]\nalways_dispatch = ["hash"]\nconnector_retry_delay = 0.05\n${core}\n`,
  );
  Deno.env.set(PW_ENV, d.password);
  const args = (...opts: string[]) => [
    "run",
    "--config",
    config,
    "-P",
    "imap",
    "-C",
    "filedir",
    "--plugin-opts",
    "imap:host=127.0.0.1",
    `imap:port=${d.port}`,
    `imap:user=${d.user}`,
    `imap:password_env=${PW_ENV}`,
    `filedir:results_dir=${results}`,
    ...opts,
  ];
  const run = (...opts: string[]) => startStoq(args(...opts), root, home);
  /** A run with exit_when_idle, to its end. */
  const once = async (...opts: string[]) => {
    const p = run("imap:exit_when_idle=true", ...opts);
    const s = await p.status;
    return { code: s.code, stderr: p.stderr() };
  };
  return { root, home, results, store: new ResultStore(results), run, once };
}

const extra = (d: ResultDoc) => d.results[0].payload_meta.extra_data;
const sha = (d: ResultDoc) => (d.results[0].workers.hash as { sha256: string }).sha256;

/** How many results each (mailbox, uid) has. */
function counts(docs: ResultDoc[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of docs) {
    const k = `${extra(d).mailbox}/${extra(d).uid}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** Checks that each appended message has exactly one result, of the same bytes. */
function exactlyOnce(docs: ResultDoc[], box: string, sent: Appended[], log = ""): void {
  deepEqual(counts(docs), Object.fromEntries(sent.map((a) => [`${box}/${a.uid}`, 1])), log);
  for (const a of sent) {
    const doc = docs.find((d) => extra(d).mailbox === box && extra(d).uid === a.uid)!;
    equal(sha(doc), a.sha256, `the bytes scanned are the bytes appended (uid ${a.uid})`);
    equal(doc.results[0].size, a.size);
    equal(extra(doc).message_id, a.message_id);
    equal(extra(doc).filename, `${a.uid}.eml`);
  }
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ n: from + i }));

type Setup = Awaited<ReturnType<typeof setup>>;

/** A test with a Dovecot of its own and a `setup` for it; `core` goes to `[core]`. */
function imapTest(name: string, body: (d: Dovecot, t: Setup) => Promise<void>, core = "") {
  Deno.test({
    name,
    ignore,
    async fn() {
      const d = await startDovecot();
      try {
        await body(d, await setup(d, core));
      } finally {
        await killLeftovers();
        await stopAllDovecots();
      }
    },
  });
}

imapTest("imap: new mail is scanned once each, through IDLE and across a restart", async (d, t) => {
  const sent = await d.append("INBOX", [...range(0, 3), { n: 3, attachment: true }]);
  // A full check only every 25 minutes: what arrives while it runs is seen through IDLE. Three
  // messages per FETCH: the four already there come in two.
  const first = t.run("imap:poll_seconds=1500", "imap:fetch_batch=3");
  await waitFor("4 results", async () => (await t.store.read()).length >= 4);
  match(first.stderr(), /watching imap:\/\/stoq@127\.0\.0\.1:\d+\/INBOX .*"waits_with":"IDLE"/);
  sent.push(...await d.append("INBOX", range(4, 2)));
  await waitFor("6 results", async () => (await t.store.read()).length >= 6);
  const r1 = await stop(first);
  equal(r1.code, 0, r1.stderr);
  exactlyOnce(await t.store.read(), "INBOX", sent, r1.stderr);

  // Mail that arrives while stoq is down is scanned at the next start, nothing twice.
  sent.push(...await d.append("INBOX", range(6, 3)));
  const r2 = await t.once();
  equal(r2.code, 0, r2.stderr);
  match(r2.stderr, /"already_done":6/);
  exactlyOnce(await t.store.read(), "INBOX", sent, r2.stderr);
  const r3 = await t.once();
  equal(r3.code, 0, r3.stderr);
  equal((await t.store.read()).length, 9, "a third start scans nothing");

  const doc = (await t.store.read()).find((x) => extra(x).uid === sent[0].uid)!;
  const status = await d.status("INBOX");
  const uidvalidity = Number(/UIDVALIDITY (\d+)/.exec(status)![1]);
  deepEqual(
    { ...extra(doc), internal_date: typeof extra(doc).internal_date },
    {
      filename: `${sent[0].uid}.eml`,
      message_id: sent[0].message_id,
      mailbox: "INBOX",
      uid: sent[0].uid,
      uidvalidity,
      server: `127.0.0.1:${d.port}`,
      user: "stoq",
      internal_date: "string",
      size: sent[0].size,
    },
  );
  ok(!Number.isNaN(Date.parse(String(extra(doc).internal_date))));
  // after=leave: every message is still there and still unread.
  deepEqual(
    (await d.list("INBOX")).map((m) => m.flags.includes("\\Seen")),
    sent.map(() => false),
  );
  for (const r of [r1, r2, r3]) {
    ok(!r.stderr.includes(d.password), "the password is never logged");
  }
});

imapTest(
  "imap: a message whose result could not be saved is scanned again after a restart",
  async (d, t) => {
    // The result store and the dead-letter folder cannot be written: nothing is safe.
    await Deno.mkdir(t.home, { recursive: true });
    await Deno.writeTextFile(t.results, "in the way");
    await Deno.writeTextFile(join(t.home, "dead-letter"), "in the way");
    const sent = await d.append("INBOX", range(0, 2));
    const r1 = await t.once("imap:max_attempts=2", "imap:retry_seconds=0.2");
    equal(r1.code, 0, r1.stderr);
    match(
      r1.stderr,
      /INBOX uid 1 \(<report-0\.[^>]+>\) was not scanned \(result of scan .* not saved.*trying again in 0\.2 s \(attempt 1 of 2\)/,
    );
    match(
      r1.stderr,
      /INBOX uid 1 .* was not scanned after 2 attempts .*left on the server, fetched again when stoq restarts/,
    );
    // The store comes back: the next start scans both, once.
    await Deno.remove(t.results);
    await Deno.remove(join(t.home, "dead-letter"));
    const r2 = await t.once();
    equal(r2.code, 0, r2.stderr);
    exactlyOnce(await t.store.read(), "INBOX", sent, r2.stderr);
    const r3 = await t.once();
    equal(r3.code, 0, r3.stderr);
    equal((await t.store.read()).length, 2);
  },
  "connector_retries = 0",
);

imapTest(
  "imap: SIGKILL mid-scan loses nothing: the restart scans what had no safe result",
  async (d, t) => {
    const plugins = join(t.root, "plugins");
    await Deno.mkdir(plugins);
    await writeText(plugins, "slow.ts", sleepyPlugin("slow", 3000));
    const sent = await d.append("INBOX", range(0, 3));
    const p = t.run("--plugin-dir", plugins, "-a", "hash", "-a", "slow");
    await waitFor("the watch", () => p.stderr().includes("watching"));
    await new Promise((r) => setTimeout(r, 1000));
    await stop(p, "SIGKILL");
    equal((await t.store.read()).length, 0, "killed before any scan finished");
    const r2 = await t.once();
    equal(r2.code, 0, r2.stderr);
    exactlyOnce(await t.store.read(), "INBOX", sent, r2.stderr);
  },
);

imapTest(
  "imap: SIGTERM finishes the scans in flight and does their after-scan action",
  async (d, t) => {
    const plugins = join(t.root, "plugins");
    await Deno.mkdir(plugins);
    await writeText(plugins, "slow.ts", sleepyPlugin("slow", 2000));
    const sent = await d.append("INBOX", range(0, 3));
    const p = t.run("imap:after=seen", "--plugin-dir", plugins, "-a", "hash", "-a", "slow");
    await waitFor("the watch", () => p.stderr().includes("watching"));
    await new Promise((r) => setTimeout(r, 800));
    equal((await t.store.read()).length, 0, "stopped before any scan finished");
    deepEqual(
      (await d.list("INBOX")).map((m) => m.flags.includes("\\Seen")),
      [false, false, false],
      "not marked before the results are saved",
    );
    const r = await stop(p);
    equal(r.code, 0, r.stderr);
    exactlyOnce(await t.store.read(), "INBOX", sent, r.stderr);
    deepEqual((await d.list("INBOX")).map((m) => m.flags.includes("\\Seen")), [true, true, true]);
    const again = await t.once();
    equal(again.code, 0, again.stderr);
    equal((await t.store.read()).length, 3);
  },
);

imapTest("imap: skip_existing and since leave out old mail", async (d, t) => {
  await d.append("Old", range(0, 3));
  const r1 = await t.once("imap:mailboxes=Old", "imap:skip_existing=true");
  equal(r1.code, 0, r1.stderr);
  match(r1.stderr, /Old: skip_existing: the 3 message\(s\) there are skipped/);
  equal((await t.store.read()).length, 0);
  const fresh = await d.append("Old", range(3, 1));
  const r2 = await t.once("imap:mailboxes=Old", "imap:skip_existing=true");
  equal(r2.code, 0, r2.stderr);
  exactlyOnce(await t.store.read(), "Old", fresh, r2.stderr);

  // since: by internal date (2021-06-01 and 2023-06-01 against since=2022-01-01).
  const dated = await d.append("Dated", [{ n: 10, date: 1622505600 }, {
    n: 11,
    date: 1685577600,
  }]);
  const r3 = await t.once("imap:mailboxes=Dated", "imap:since=2022-01-01");
  equal(r3.code, 0, r3.stderr);
  const docs = (await t.store.read()).filter((x) => extra(x).mailbox === "Dated");
  exactlyOnce(docs, "Dated", [dated[1]], r3.stderr);
  equal(extra(docs[0]).internal_date, "2023-06-01T00:00:00.000Z");
});

imapTest(
  "imap: the server going away mid-run: stoq reconnects with backoff and scans what came (polling)",
  async (d, t) => {
    const sent = await d.append("INBOX", range(0, 2));
    // Without IDLE: new mail is found by the check every poll_seconds.
    const p = t.run(
      "imap:idle=false",
      "imap:poll_seconds=1",
      "imap:reconnect_seconds=0.2",
      "imap:reconnect_max_seconds=1",
    );
    await waitFor("2 results", async () => (await t.store.read()).length >= 2);
    match(p.stderr(), /"waits_with":"a check every 1 s"/);
    await d.stop();
    await waitFor("a reconnect attempt", () => /connecting again in/.test(p.stderr()));
    await new Promise((r) => setTimeout(r, 1500)); // a few refused attempts
    await d.start();
    await waitFor("the new connection", () => p.stderr().includes("connected again to"));
    sent.push(...await d.append("INBOX", range(2, 3)));
    await waitFor("5 results", async () => (await t.store.read()).length >= 5);
    const r = await stop(p);
    equal(r.code, 0, r.stderr);
    exactlyOnce(await t.store.read(), "INBOX", sent, r.stderr);
    const refused = r.stderr.match(/INBOX: .*connecting again in ([\d.]+) s/g) ?? [];
    ok(refused.length >= 2, r.stderr);
  },
);

imapTest(
  "imap: after=seen, move and delete act once the result is saved; search=unseen, several folders",
  async (d, t) => {
    // seen, on two folders at once: a message already \Seen is not a candidate.
    const a = await d.append("Reports", [{ n: 0 }, { n: 1, seen: true }, { n: 2 }]);
    const b = await d.append("Abuse", [{ n: 3 }]);
    const r1 = await t.once(
      "imap:mailboxes=Reports,Abuse",
      "imap:search=unseen",
      "imap:after=seen",
    );
    equal(r1.code, 0, r1.stderr);
    const docs = await t.store.read();
    deepEqual(counts(docs), {
      [`Reports/${a[0].uid}`]: 1,
      [`Reports/${a[2].uid}`]: 1,
      [`Abuse/${b[0].uid}`]: 1,
    });
    for (const box of ["Reports", "Abuse"]) {
      for (const m of await d.list(box)) ok(m.flags.includes("\\Seen"), `${box} ${m.uid} seen`);
    }

    // move: into Scanned, which must exist.
    const c = await d.append("Phish", range(10, 2));
    const bad = await t.once("imap:mailboxes=Phish", "imap:after=move", "imap:move_to=Nowhere");
    equal(bad.code, 1);
    match(bad.stderr, /move_to mailbox "Nowhere" cannot be used/);
    await d.createBox("Scanned");
    const r2 = await t.once("imap:mailboxes=Phish", "imap:after=move", "imap:move_to=Scanned");
    equal(r2.code, 0, r2.stderr);
    deepEqual(await d.list("Phish"), []);
    equal((await d.list("Scanned")).length, 2);
    exactlyOnce((await t.store.read()).filter((x) => extra(x).mailbox === "Phish"), "Phish", c);

    // delete.
    const e = await d.append("Trashme", range(20, 2));
    const r3 = await t.once("imap:mailboxes=Trashme", "imap:after=delete");
    equal(r3.code, 0, r3.stderr);
    deepEqual(await d.list("Trashme"), []);
    exactlyOnce(
      (await t.store.read()).filter((x) => extra(x).mailbox === "Trashme"),
      "Trashme",
      e,
    );
  },
);

imapTest(
  "imap: a UIDVALIDITY change is said in the log and the folder is scanned again",
  async (d, t) => {
    const first = await d.append("Box", range(0, 2));
    const r1 = await t.once("imap:mailboxes=Box");
    equal(r1.code, 0, r1.stderr);
    const before = /UIDVALIDITY (\d+)/.exec(await d.status("Box"))![1];
    // Deleted and made again: Dovecot gives the new folder a new UIDVALIDITY (from the clock).
    await d.deleteBox("Box");
    await new Promise((r) => setTimeout(r, 1100));
    const second = await d.append("Box", range(0, 2));
    const after = /UIDVALIDITY (\d+)/.exec(await d.status("Box"))![1];
    ok(before !== after, "the test made a new UIDVALIDITY");
    deepEqual(second.map((x) => x.uid), first.map((x) => x.uid), "the UIDs are used again");
    const r2 = await t.once("imap:mailboxes=Box");
    equal(r2.code, 0, r2.stderr);
    match(
      r2.stderr,
      new RegExp(
        `UIDVALIDITY of Box changed from ${before} to ${after}: .* 2 message\\(s\\) recorded as scanned .* every message there is scanned again`,
      ),
    );
    const docs = await t.store.read();
    equal(docs.length, 4);
    exactlyOnce(docs.filter((x) => String(extra(x).uidvalidity) === after), "Box", second);
  },
);

imapTest(
  "imap: a message over max_payload_size is nacked once with a clear line, never fetched again",
  async (d, t) => {
    await d.createBox("Oversize");
    const sent = await d.append("INBOX", [{ n: 0, pad: 8000 }, { n: 1 }]);
    const r1 = await t.once("imap:failed_to=Oversize", "imap:after=delete");
    equal(r1.code, 0, r1.stderr);
    match(
      r1.stderr,
      new RegExp(
        `INBOX uid ${sent[0].uid} \\(<report-0\\.[^>]+>\\): payload is ${
          sent[0].size
        } bytes, over max_payload_size \\(2048\\); not scanned\\. It is not fetched again and goes to Oversize`,
      ),
    );
    // Its result says why; the small one is scanned and deleted; the big one was moved.
    const docs = await t.store.read();
    deepEqual(counts(docs), { [`INBOX/${sent[0].uid}`]: 1, [`INBOX/${sent[1].uid}`]: 1 });
    deepEqual(await d.list("INBOX"), []);
    equal((await d.list("Oversize")).length, 1);
    // Without failed_to the message stays, and a restart does not fetch it again.
    const more = await d.append("INBOX", [{ n: 2, pad: 8000 }]);
    const r2 = await t.once();
    equal(r2.code, 0, r2.stderr);
    match(r2.stderr, /\): payload is .* It is not fetched again \(to scan it/);
    const r3 = await t.once();
    equal(r3.code, 0, r3.stderr);
    equal((await t.store.read()).length, 3, "the big one was not fetched again");
    deepEqual((await d.list("INBOX")).map((m) => m.uid), [more[0].uid]);
  },
  "max_payload_size = 2048",
);

imapTest(
  "imap: TLS and STARTTLS trust a CA file; an unknown certificate is refused",
  async (d, t) => {
    const sent = await d.append("INBOX", range(0, 1));
    const tls = [`imap:port=${d.tlsPort}`, "imap:tls=true"];
    const refused = await t.once(...tls);
    equal(refused.code, 1, refused.stderr);
    match(refused.stderr, /imap: stoq@127\.0\.0\.1:\d+: .*(certificate|verify)/i);
    const r1 = await t.once(
      ...tls,
      `imap:ca_cert=${d.ca}`,
      "imap:state_file=" + join(t.root, "s1"),
    );
    equal(r1.code, 0, r1.stderr);
    const r2 = await t.once(
      "imap:starttls=true",
      `imap:ca_cert=${d.ca}`,
      "imap:state_file=" + join(t.root, "s2"),
    );
    equal(r2.code, 0, r2.stderr);
    const r3 = await t.once(
      ...tls,
      "imap:verify_tls=false",
      "imap:state_file=" + join(t.root, "s3"),
    );
    equal(r3.code, 0, r3.stderr);
    const docs = await t.store.read();
    equal(docs.length, 3);
    for (const doc of docs) equal(sha(doc), sent[0].sha256);
    ok(docs.some((x) => extra(x).server === `127.0.0.1:${d.tlsPort}`));
  },
);

imapTest("imap: mistakes are clear errors that never show the password", async (d, t) => {
  Deno.env.set(PW_ENV, "wrong-" + d.password);
  const r1 = await t.once();
  equal(r1.code, 1);
  match(
    r1.stderr,
    /imap: stoq@127\.0\.0\.1:\d+: .*uthentication failed.*check user and the password in STOQ_IMAP_TEST_PASSWORD/,
  );
  ok(!r1.stderr.includes(d.password));
  Deno.env.set(PW_ENV, d.password);
  const r2 = await t.once("imap:mailboxes=INBOX,NoSuchFolder");
  equal(r2.code, 1);
  match(r2.stderr, /mailbox "NoSuchFolder" cannot be opened/);
  const r3 = await t.once("imap:after=move");
  equal(r3.code, 1);
  match(r3.stderr, /after=move needs move_to/);
  Deno.env.delete(PW_ENV);
  const r4 = await t.once();
  equal(r4.code, 1);
  match(
    r4.stderr,
    /no password for stoq: set the environment variable STOQ_IMAP_TEST_PASSWORD/,
  );
});
