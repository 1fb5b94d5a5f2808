/**
 * `imap`: watches IMAP folders (a phishing-report mailbox, a journaling copy of inbound mail) and
 * scans each new message once, as its raw RFC 822 bytes. One connection per folder waits with
 * IDLE where the server has it (and checks again every `poll_seconds` in any case). After a
 * message's result is safe (`ack`) it is left, marked \Seen, moved or deleted. A state file under
 * $STOQ_HOME records the UIDs done per folder and UIDVALIDITY, so a restart scans what arrived
 * meanwhile and nothing twice; a message whose result was not saved is fetched again
 * (at-least-once). Client: imapflow (loaded when the plugin starts).
 */
import type { Delivery, PayloadInput, StoqAPI } from "../core/engine/plugin.ts";
import type { ImapFlow } from "imapflow";
import { ImapState } from "./lib/provider/imap_state.ts";
import { backoffMs, fromEnv } from "./lib/store/http.ts";
import { sleep } from "./lib/queue/message.ts";

interface Failure {
  attempts: number;
  /** When it is fetched again (ms since the epoch); Infinity once given up for this run. */
  due: number;
}

/** One watched folder's run-time state (its persistent state is in ImapState). */
interface Watch {
  box: string;
  /** The UIDVALIDITY the folder had when it was last opened. */
  uidvalidity?: string;
  inflight: Set<number>;
  failures: Map<number, Failure>;
  /** UIDs given up that go to failed_to. */
  toFailed: Set<number>;
  searched: boolean;
  woken: boolean;
  wake?: () => void;
}

/** The server's words for a failed command, else the error's message. */
function describe(e: unknown): string {
  const err = e as { responseText?: string; message?: string; code?: string };
  const text = err.responseText || err.message || String(e);
  return err.code && !text.includes(err.code) ? `${text} (${err.code})` : text;
}

const LOOPBACK = /^(127\.|::1$|localhost$)/;
/** The most message text one FETCH brings into memory (a larger message comes alone). */
const BATCH_BYTES = 32 * 1024 * 1024;

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "imap",
    version: "1.0.0",
    description: "Watches IMAP folders and scans each new e-mail once (raw RFC 822 message)",
    classes: ["provider"],
    options: {
      host: stoq.z.string().min(1).default("localhost"),
      // Default: 993 with tls, else 143.
      port: stoq.z.number().int().min(1).max(65535).optional(),
      // TLS from the first byte (IMAPS, port 993).
      tls: stoq.z.boolean().default(false),
      // Plain connection upgraded with STARTTLS; refused when the server does not offer it.
      starttls: stoq.z.boolean().default(false),
      verify_tls: stoq.z.boolean().default(true),
      // A PEM file of CA certificates to trust (a private CA) instead of disabling verification.
      ca_cert: stoq.z.string().min(1).optional(),
      user: stoq.z.string().min(1).optional(),
      // Better in the environment variable named by password_env than on a command line.
      password: stoq.z.string().optional(),
      password_env: stoq.z.string().min(1).default("STOQ_IMAP_PASSWORD"),
      mailboxes: stoq.z.array(stoq.z.string().min(1)).min(1).default(["INBOX"]),
      // Which messages are candidates: all of them, or those not yet \Seen; and only those that
      // arrived (IMAP internal date) on or after `since` (YYYY-MM-DD).
      search: stoq.z.enum(["all", "unseen"]).default("all"),
      since: stoq.z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date, YYYY-MM-DD").optional(),
      // At the first start (no state for a folder yet): messages already there are not scanned.
      skip_existing: stoq.z.boolean().default(false),
      after: stoq.z.enum(["leave", "seen", "move", "delete"]).default("leave"),
      move_to: stoq.z.string().min(1).optional(),
      // A folder for messages given up on (max_attempts failures, or over max_payload_size).
      failed_to: stoq.z.string().min(1).optional(),
      // A full check of each folder this often, besides what IDLE reports.
      poll_seconds: stoq.z.number().positive().max(1500).default(60),
      idle: stoq.z.boolean().default(true),
      fetch_batch: stoq.z.number().int().min(1).max(1000).default(10),
      // A message that could not be scanned is fetched again after retry_seconds (doubling each
      // time); after max_attempts it goes to failed_to or, without one, waits for a restart.
      retry_seconds: stoq.z.number().positive().max(86400).default(60),
      max_attempts: stoq.z.number().int().min(1).max(1000).default(5),
      // Reconnecting after the server went away: reconnect_seconds, doubling up to the max.
      reconnect_seconds: stoq.z.number().positive().max(3600).default(1),
      reconnect_max_seconds: stoq.z.number().positive().max(3600).default(60),
      // Default: $STOQ_HOME/imap/<user>@<host>-<port>-<hash>.jsonl
      state_file: stoq.z.string().min(1).optional(),
      // Stop once every folder was checked and everything found is dealt with (batch, tests).
      exit_when_idle: stoq.z.boolean().default(false),
    },
    async create(opts, ctx) {
      const np = await import("node:path");
      const port = opts.port ?? (opts.tls ? 993 : 143);
      const server = `${opts.host}:${port}`;
      const account = `${opts.user ?? ""}@${server}`;
      if (opts.after === "move" && !opts.move_to) {
        throw new Error("imap: after=move needs move_to (e.g. imap:move_to=Scanned)");
      }
      for (const [name, box] of [["move_to", opts.move_to], ["failed_to", opts.failed_to]]) {
        if (box && opts.mailboxes.includes(box)) {
          throw new Error(`imap: ${name} must not be one of the watched mailboxes (${box})`);
        }
      }
      if (new Set(opts.mailboxes).size !== opts.mailboxes.length) {
        throw new Error(`imap: a mailbox is named twice in mailboxes (${opts.mailboxes})`);
      }
      const statePath = opts.state_file ? np.resolve(opts.state_file) : np.join(
        ctx.home,
        "imap",
        `${(opts.user ?? "").replace(/[^\w.@-]/g, "_")}@${opts.host.replace(/[^\w.-]/g, "_")}-` +
          `${port}-${stoq.hash("sha256", new TextEncoder().encode(account)).slice(0, 12)}.jsonl`,
      );
      const since = opts.since ? new Date(`${opts.since}T00:00:00Z`) : undefined;
      if (since && Number.isNaN(since.getTime())) {
        throw new Error(`imap: since=${opts.since} is not a date (YYYY-MM-DD)`);
      }
      let ca: string | undefined;
      if (opts.ca_cert) {
        try {
          ca = await Deno.readTextFile(opts.ca_cert);
        } catch (e) {
          throw new Error(`imap: cannot read ca_cert ${opts.ca_cert}: ${(e as Error).message}`);
        }
      }
      const { ImapFlow } = await import("imapflow");
      const clients = new Set<ImapFlow>();

      return {
        async ingest(queue, call) {
          if (!opts.user) throw new Error("imap: set user (e.g. --plugin-opts imap:user=soc)");
          const password = fromEnv(opts.password, opts.password_env);
          if (password === undefined) {
            throw new Error(
              `imap: no password for ${opts.user}: set the environment variable ` +
                `${opts.password_env} (or the option password)`,
            );
          }
          if (!opts.tls && !opts.starttls && !LOOPBACK.test(opts.host)) {
            ctx.log.warn(
              `the password for ${account} goes over the network unencrypted ` +
                `(set imap:tls=true or imap:starttls=true)`,
            );
          }
          const state = new ImapState(statePath, account);
          try {
            state.load();
          } catch (e) {
            throw new Error(
              `imap: cannot use the state file ${statePath}: ${(e as Error).message} ` +
                `(set imap:state_file to a writable path)`,
            );
          }
          // A folder that cannot be watched at all (bad login, no such folder) stops the others.
          const fatal = new AbortController();
          const signal = AbortSignal.any([call.signal, fatal.signal]);

          const connect = async (): Promise<ImapFlow> => {
            const client = new ImapFlow({
              host: opts.host,
              port,
              secure: opts.tls,
              doSTARTTLS: opts.tls ? undefined : opts.starttls,
              tls: { rejectUnauthorized: opts.verify_tls, ...(ca ? { ca } : {}) },
              auth: { user: opts.user!, pass: password },
              logger: false,
              // BINARY fetches may hand back decoded parts: the raw message is what is scanned.
              disableBinary: true,
              disableAutoIdle: !opts.idle,
              autoIdleDelay: 1000,
              clientInfo: { name: "stoq", version: stoq.version },
              connectionTimeout: 30_000,
            });
            client.on("error", () => {}); // the pending command or the next one reports it
            clients.add(client);
            try {
              await client.connect();
            } catch (e) {
              clients.delete(client);
              client.close();
              throw e;
            }
            return client;
          };

          /** Waits until `w` is woken (new mail, an ack, a lost connection), `ms` or a stop. */
          const wait = async (w: Watch, ms: number) => {
            if (!w.woken) {
              await new Promise<void>((resolve) => {
                const done = () => {
                  clearTimeout(t);
                  signal.removeEventListener("abort", done);
                  w.wake = undefined;
                  resolve();
                };
                const t = setTimeout(done, ms);
                // A stop wakes the loop once; while it drains, acks wake it.
                if (!signal.aborted) signal.addEventListener("abort", done, { once: true });
                w.wake = done;
              });
            }
            w.woken = false;
          };
          const wake = (w: Watch) => {
            w.woken = true;
            w.wake?.();
          };

          const label = (w: Watch, uid: number, id?: string) =>
            `${w.box} uid ${uid}${id ? ` (${id})` : ""}`;

          const delivery = (w: Watch, v: string, uid: number, id?: string): Delivery => ({
            ack: ({ scan_id }) => {
              w.inflight.delete(uid);
              w.failures.delete(uid);
              state.done(w.box, v, uid, scan_id, opts.after !== "leave");
              wake(w);
            },
            nack: (why) => {
              w.inflight.delete(uid);
              wake(w);
              if (/over max_payload_size/.test(why)) {
                // Its bytes never change: every attempt would end the same way.
                state.failed(w.box, v, uid, why);
                if (opts.failed_to) w.toFailed.add(uid);
                ctx.log.error(
                  `${label(w, uid, id)}: ${why}. It is not fetched again` +
                    (opts.failed_to ? ` and goes to ${opts.failed_to}` : "") +
                    ` (to scan it, raise [core] max_payload_size and copy the message into ` +
                    `${w.box} again)`,
                );
                return;
              }
              // Stopping: the message stays unrecorded and is fetched at the next start.
              if (signal.aborted) return;
              const f = w.failures.get(uid) ?? { attempts: 0, due: 0 };
              f.attempts++;
              w.failures.set(uid, f);
              if (f.attempts < opts.max_attempts) {
                const s = opts.retry_seconds * 2 ** (f.attempts - 1);
                f.due = Date.now() + s * 1000;
                ctx.log.warn(
                  `${label(w, uid, id)} was not scanned (${why}); trying again in ${s} s ` +
                    `(attempt ${f.attempts} of ${opts.max_attempts})`,
                );
                return;
              }
              f.due = Infinity;
              if (opts.failed_to) w.toFailed.add(uid);
              ctx.log.error(
                `${label(w, uid, id)} was not scanned after ${f.attempts} attempts (${why}); ` +
                  (opts.failed_to
                    ? `moving it to ${opts.failed_to}`
                    : "left on the server, fetched again when stoq restarts"),
              );
            },
          });

          /** Checks that a folder the after-scan actions move messages to exists. */
          const checkTarget = async (client: ImapFlow, name: string, box: string) => {
            try {
              await client.status(box, { messages: true });
            } catch (e) {
              throw new Error(`imap: ${name} mailbox "${box}" cannot be used: ${describe(e)}`);
            }
          };

          /** Applies due after-scan actions and moves to failed_to, on `client`'s open folder. */
          const settle = async (client: ImapFlow, w: Watch) => {
            const b = state.get(w.box);
            if (!b || b.uidvalidity !== w.uidvalidity) return;
            const v = b.uidvalidity;
            if (b.pending.size && opts.after === "leave") state.applied(w.box, v, [...b.pending]);
            while (b.pending.size) {
              const uids = [...b.pending].sort((x, y) => x - y).slice(0, 500);
              const ok = opts.after === "seen"
                ? await client.messageFlagsAdd(uids, ["\\Seen"], { uid: true })
                : opts.after === "move"
                ? await client.messageMove(uids, opts.move_to!, { uid: true })
                : await client.messageDelete(uids, { uid: true });
              if (!ok) {
                throw new Error(
                  `the server refused to ${
                    opts.after === "move"
                      ? `move messages to ${opts.move_to}`
                      : opts.after === "seen"
                      ? "mark messages \\Seen"
                      : "delete messages"
                  } (UIDs ${uids.join(",")})`,
                );
              }
              state.applied(w.box, v, uids);
              ctx.log.debug(`${opts.after}: ${w.box} UIDs ${uids.join(",")}`);
            }
            if (w.toFailed.size) {
              const uids = [...w.toFailed].sort((x, y) => x - y);
              if (!await client.messageMove(uids, opts.failed_to!, { uid: true })) {
                throw new Error(`the server refused to move UIDs ${uids} to ${opts.failed_to}`);
              }
              for (const u of uids) w.toFailed.delete(u);
              ctx.log.info(`moved ${w.box} UIDs ${uids.join(",")} to ${opts.failed_to}`);
            }
          };

          /** Searches the open folder and queues each new message. */
          const scanNew = async (client: ImapFlow, w: Watch) => {
            const query: Record<string, unknown> = opts.search === "unseen"
              ? { seen: false }
              : { all: true };
            if (since) query.since = since;
            const found = await client.search(query, { uid: true });
            if (!found) throw new Error(`SEARCH in ${w.box} failed`);
            const b = state.get(w.box)!;
            const now = Date.now();
            const todo = found.filter((uid) => {
              if (b.done.has(uid) || w.inflight.has(uid) || w.toFailed.has(uid)) return false;
              const f = w.failures.get(uid);
              return !f || f.due <= now;
            });
            w.searched = true;
            // Sizes first (RFC822.SIZE, cheap), so that one FETCH holds at most fetch_batch
            // messages and BATCH_BYTES of them (a larger message comes alone).
            for (let i = 0; i < todo.length && !signal.aborted; i += 1000) {
              const sized = await client.fetchAll(todo.slice(i, i + 1000), {
                uid: true,
                size: true,
              }, { uid: true });
              let batch: number[] = [], bytes = 0;
              for (const m of sized) {
                const size = m.size ?? 0;
                if (
                  batch.length >= opts.fetch_batch || (batch.length && bytes + size > BATCH_BYTES)
                ) {
                  if (!await fetchAndQueue(client, w, batch)) return;
                  batch = [];
                  bytes = 0;
                }
                batch.push(m.uid);
                bytes += size;
              }
              if (batch.length && !await fetchAndQueue(client, w, batch)) return;
            }
          };

          /** Fetches the messages `uids` and queues each; false once the run is stopping. */
          const fetchAndQueue = async (client: ImapFlow, w: Watch, uids: number[]) => {
            // What was acked meanwhile is marked, moved or deleted now, not after the backlog.
            await settle(client, w);
            if (signal.aborted) return false;
            const v = w.uidvalidity!;
            const msgs = await client.fetchAll(uids, {
              uid: true,
              source: true,
              internalDate: true,
              envelope: true,
            }, { uid: true });
            for (const m of msgs) {
              if (!m.source) continue; // expunged meanwhile
              if (signal.aborted) return false;
              const id = m.envelope?.messageId || undefined;
              const date = m.internalDate instanceof Date ? m.internalDate : undefined;
              const item: PayloadInput = {
                // A copy of its own: the scan threads take over (detach) its buffer.
                content: new Uint8Array(m.source),
                payload_meta: {
                  extra_data: {
                    filename: `${m.uid}.eml`,
                    message_id: id ?? null,
                    mailbox: w.box,
                    uid: m.uid,
                    uidvalidity: Number(v),
                    server,
                    user: opts.user,
                    internal_date: date && !Number.isNaN(date.getTime())
                      ? date.toISOString()
                      : null,
                    size: m.source.length,
                  },
                },
              };
              const f = w.failures.get(m.uid);
              if (f) f.due = Infinity; // until its delivery says how it went
              w.inflight.add(m.uid);
              try {
                await queue.put(item, delivery(w, v, m.uid, id));
              } catch (e) {
                w.inflight.delete(m.uid);
                if (signal.aborted) return false;
                throw e;
              }
            }
            return true;
          };

          /** Opens the folder and reconciles its UIDVALIDITY with the state. */
          const open = async (client: ImapFlow, w: Watch) => {
            let mb;
            try {
              mb = await client.mailboxOpen(w.box, {
                readOnly: opts.after === "leave" && !opts.failed_to,
              });
            } catch (e) {
              throw new Error(`mailbox "${w.box}" cannot be opened: ${describe(e)}`);
            }
            const v = String(mb.uidValidity);
            const known = state.get(w.box);
            const before = state.validity(w.box, v);
            if (before !== undefined) {
              ctx.log.warn(
                `UIDVALIDITY of ${w.box} changed from ${before} to ${v}: the server renumbered ` +
                  `the folder, so the ${known?.done.size ?? 0} message(s) recorded as scanned ` +
                  `cannot be told apart; every message there is scanned again`,
              );
              w.failures.clear();
              w.toFailed.clear();
            } else if (!known && opts.skip_existing) {
              state.skip(w.box, v, Number(mb.uidNext) - 1);
              ctx.log.info(
                `${w.box}: skip_existing: the ${mb.exists} message(s) there are skipped`,
              );
            }
            w.uidvalidity = v;
          };

          const idle = (w: Watch) => {
            const b = state.get(w.box);
            return w.searched && w.inflight.size === 0 && w.toFailed.size === 0 &&
              !(b && b.uidvalidity === w.uidvalidity && b.pending.size) &&
              [...w.failures.values()].every((f) => f.due === Infinity);
          };

          /** Watches one folder on a connection of its own until stopped (or idle). */
          const watch = async (box: string) => {
            const w: Watch = {
              box,
              inflight: new Set(),
              failures: new Map(),
              toFailed: new Set(),
              searched: false,
              woken: false,
            };
            let attempt = 0;
            let first = true;
            while (!(signal.aborted && w.inflight.size === 0)) {
              let client: ImapFlow | undefined;
              try {
                client = await connect();
                const c = client;
                c.on("exists", () => wake(w));
                c.on("close", () => wake(w));
                await open(c, w);
                if (first) {
                  if (opts.after === "move") await checkTarget(c, "move_to", opts.move_to!);
                  if (opts.failed_to) await checkTarget(c, "failed_to", opts.failed_to);
                }
                const idling = opts.idle && c.capabilities.has("IDLE");
                ctx.log.info(
                  `${first ? "watching" : "connected again to"} imap://${account}/${box}`,
                  {
                    uidvalidity: w.uidvalidity,
                    messages: c.mailbox ? c.mailbox.exists : null,
                    already_done: state.get(box)?.done.size ?? 0,
                    waits_with: idling ? "IDLE" : `a check every ${opts.poll_seconds} s`,
                    after: opts.after,
                    state_file: statePath,
                  },
                );
                first = false;
                for (;;) {
                  if (!c.usable) throw new Error("the connection to the server was lost");
                  if (c.mailbox && String(c.mailbox.uidValidity) !== w.uidvalidity) {
                    await open(c, w);
                  }
                  await settle(c, w);
                  if (signal.aborted) {
                    if (w.inflight.size === 0) return;
                  } else {
                    await scanNew(c, w);
                    attempt = 0;
                  }
                  if (opts.exit_when_idle && idle(w)) {
                    ctx.log.info(`${box}: nothing left to do (exit_when_idle)`);
                    return;
                  }
                  const due = Math.min(
                    ...[...w.failures.values()].map((f) => f.due - Date.now()),
                    opts.poll_seconds * 1000,
                  );
                  await wait(w, Math.max(50, due));
                }
              } catch (e) {
                const why = describe(e);
                const fatalAtStart = first && (
                  (e as { authenticationFailed?: boolean }).authenticationFailed ||
                  /cannot be (opened|used)|certificate|self.signed|unable to verify/i.test(why)
                );
                if (fatalAtStart) {
                  fatal.abort();
                  throw new Error(
                    `imap: ${account}: ${why}` +
                      ((e as { authenticationFailed?: boolean }).authenticationFailed
                        ? ` (check user and the password in ${opts.password_env})`
                        : ""),
                  );
                }
                if (signal.aborted) {
                  // Stopping with the server away: what is recorded is settled at the next start.
                  ctx.log.warn(`${box}: ${why}; after-scan actions left for the next start`);
                  return;
                }
                const ms = backoffMs(attempt++, opts.reconnect_seconds, opts.reconnect_max_seconds);
                ctx.log.warn(
                  `imap://${account}/${box}: ${why}; connecting again in ${
                    (ms / 1000).toFixed(1)
                  } s`,
                );
                await sleep(ms, signal);
              } finally {
                if (client) {
                  clients.delete(client);
                  if (client.usable) await client.logout().catch(() => {});
                  client.close();
                }
              }
            }
          };

          const outcomes = await Promise.allSettled(opts.mailboxes.map(watch));
          const failed = outcomes.find((o) => o.status === "rejected");
          if (failed) throw (failed as PromiseRejectedResult).reason;
        },

        close() {
          for (const c of clients) c.close();
          clients.clear();
        },
      };
    },
  });
