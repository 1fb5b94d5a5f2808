/** The imap provider's state: UID sets as IMAP ranges, and the journal across restarts. */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { ImapState, UidSet } from "../../../plugins/lib/provider/imap_state.ts";
import { tempDir } from "../../helpers.ts";

Deno.test("imap state: UID sets merge ranges and read back what they wrote", () => {
  const s = new UidSet();
  for (const u of [5, 1, 3, 2, 10, 4, 12, 11]) s.add(u);
  equal(s.toString(), "1:5,10:12");
  equal(s.size, 8);
  ok(s.has(3) && s.has(12) && !s.has(6) && !s.has(0) && !s.has(13));
  s.addRange(6, 9);
  equal(s.toString(), "1:12");
  equal(UidSet.parse("7,1:3,x,5:4,2").toString(), "1:5,7");
});

Deno.test("imap state: the journal survives a restart and a torn last line", async () => {
  const dir = await tempDir();
  const path = join(dir, "state.jsonl");
  const a = new ImapState(path, "u@h:143");
  a.load();
  equal(a.validity("INBOX", "7"), undefined);
  a.done("INBOX", "7", 1, "s1", true);
  a.done("INBOX", "7", 2, "s2", true);
  a.applied("INBOX", "7", [1]);
  a.failed("INBOX", "7", 3, "too big");
  a.done("INBOX", "6", 9, "old", false); // a delivery from an older UIDVALIDITY: ignored
  await Deno.writeTextFile(path, '{"box":"INBOX","uidvalidity":"7","done":4', { append: true });
  const b = new ImapState(path, "u@h:143");
  b.load();
  const box = b.get("INBOX")!;
  equal(box.done.toString(), "1:3");
  deepEqual([...box.pending], [2]);
  deepEqual([...box.failed], [[3, "too big"]]);
  // Compacted: one line per folder after the header.
  equal((await Deno.readTextFile(path)).trim().split("\n").length, 2);
  equal(b.validity("INBOX", "8"), "7");
  const c = new ImapState(path, "u@h:143");
  c.load();
  equal(c.get("INBOX")!.done.size, 0);
  equal(c.get("INBOX")!.uidvalidity, "8");
});
