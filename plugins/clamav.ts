/**
 * ClamAV verdict on the payload: through clamd's INSTREAM command when a socket is configured or
 * clamd answers on its default socket, else with one `clamscan` run per payload. A clamscan
 * without signatures is found out once: logged once, named once per scan, and not run again.
 */
import type {
  CallContext,
  Finding,
  Request,
  StoqAPI,
  WorkerResponse,
} from "../core/engine/plugin.ts";

/** Where Debian's clamd listens by default (LocalSocket in /etc/clamav/clamd.conf). */
export const DEFAULT_SOCKETS = ["/run/clamav/clamd.ctl", "/var/run/clamav/clamd.ctl"];

/** Whether clamd answers PING on the unix socket `path` within `ms`. */
export async function clamdAnswers(path: string, ms = 1000): Promise<boolean> {
  let conn: Deno.UnixConn | undefined;
  const timer = setTimeout(() => conn?.close(), ms);
  try {
    conn = await Deno.connect({ transport: "unix", path });
    await conn.write(new TextEncoder().encode("zPING\0"));
    const buf = new Uint8Array(16);
    const n = await conn.read(buf);
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("PONG");
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed by the timer */ }
  }
}

/** clamd reads a stream in chunks of `size (u32 big-endian) + bytes`; a zero size ends it. */
const CHUNK = 64 * 1024;
/** Largest clamd reply kept; real ones are one line per signature. */
const MAX_REPLY = 64 * 1024;

/** What the plugin returns for a scanned payload. */
export interface ClamavResult {
  infected: boolean;
  /** Signature names as ClamAV prints them, first match first, without repeats. */
  signatures: string[];
  findings: Finding[];
}

/**
 * What ClamAV's signatures mean for an analyst: a malware signature is critical, a potentially
 * unwanted program (`PUA.`) medium, a heuristic (`Heuristics.`: encrypted archive, broken
 * executable...) low. One finding per kind, naming its signatures.
 */
export function clamavFindings(signatures: string[]): Finding[] {
  const kinds = [
    { id: "infected", severity: "critical", title: "ClamAV: malware signature", sigs: [] },
    { id: "pua", severity: "medium", title: "ClamAV: potentially unwanted program", sigs: [] },
    { id: "heuristic", severity: "low", title: "ClamAV: heuristic detection", sigs: [] },
  ] as (Omit<Finding, "detail"> & { sigs: string[] })[];
  for (const sig of signatures) {
    const i = /^PUA\./i.test(sig) ? 1 : /^Heuristics?\./i.test(sig) ? 2 : 0;
    kinds[i].sigs.push(sig);
  }
  return kinds.filter((k) => k.sigs.length).map(({ sigs, ...k }) => ({
    ...k,
    detail: sigs.join(", "),
  }));
}

/** Where `socket` points: a unix socket path, or `host:port` (`[v6]:port`) for TCP. */
export function parseSocket(
  socket: string,
): Deno.UnixConnectOptions | Deno.ConnectOptions {
  const tcp = /^\[?([^/\[\]]+?)\]?:(\d{1,5})$/.exec(socket);
  if (tcp && !socket.includes("/")) return { hostname: tcp[1], port: Number(tcp[2]) };
  return { transport: "unix", path: socket };
}

/**
 * Reads clamd's or clamscan's report lines (`<name>: SIG FOUND`, `<name>: OK`, `... ERROR`);
 * returns the result, or the error lines when there are some.
 */
export function parseReport(text: string): ClamavResult | { errors: string[] } {
  const signatures: string[] = [];
  const errors: string[] = [];
  for (const raw of text.split(/[\0\n]/)) {
    const line = raw.trim();
    const found = /^(?:stdin|stream): (.+) FOUND$/.exec(line);
    if (found) {
      if (!signatures.includes(found[1])) signatures.push(found[1]);
    } else if (/ ERROR$/.test(line)) {
      errors.push(line);
    }
  }
  if (errors.length) return { errors };
  return { infected: signatures.length > 0, signatures, findings: clamavFindings(signatures) };
}

/**
 * Sends the payload to clamd with INSTREAM. Returns clamd's reply, the bytes of payload sent, and
 * the error that cut the connection short, if one did.
 */
async function instream(
  socket: string,
  content: Uint8Array,
  signal: AbortSignal,
): Promise<{ reply: string; sent: number; dropped?: Error }> {
  let conn: Deno.Conn;
  try {
    const where = parseSocket(socket);
    conn = "path" in where ? await Deno.connect(where) : await Deno.connect(where);
  } catch (e) {
    throw new Error(
      `clamd is not reachable at ${socket} (${
        (e as Error).message
      }): start it with "clamd -c /etc/clamav/clamd.conf" and point option socket at its LocalSocket or TCPSocket, or unset socket to use clamscan`,
    );
  }
  const close = () => {
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  if (signal.aborted) close();
  signal.addEventListener("abort", close, { once: true });
  let dropped: Error | undefined;
  // Read while writing: past StreamMaxLength clamd replies and closes at once, and a TCP reset
  // would discard a reply still unread. conn.read/write, unlike the streams, leave the socket
  // open after a failed write, so the reply can still be read.
  const reading = (async () => {
    const buf = new Uint8Array(4096);
    const dec = new TextDecoder();
    let reply = "";
    try {
      // Without IDSESSION clamd closes the connection after its reply.
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
        reply += dec.decode(buf.subarray(0, n), { stream: true });
        if (reply.length > MAX_REPLY) throw new Error(`clamd's reply exceeded ${MAX_REPLY} bytes`);
      }
    } catch (e) {
      dropped ??= e as Error;
    }
    return reply;
  })();
  const writeAll = async (data: Uint8Array) => {
    for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
  };
  let sent = 0;
  try {
    try {
      await writeAll(new TextEncoder().encode("zINSTREAM\0"));
      for (; sent < content.length; sent += Math.min(CHUNK, content.length - sent)) {
        const chunk = content.subarray(sent, sent + CHUNK);
        const frame = new Uint8Array(4 + chunk.length);
        new DataView(frame.buffer).setUint32(0, chunk.length);
        frame.set(chunk, 4);
        await writeAll(frame);
      }
      await writeAll(new Uint8Array(4));
    } catch (e) {
      dropped ??= e as Error;
    }
    const reply = await reading;
    signal.throwIfAborted();
    return { reply, sent, dropped };
  } finally {
    signal.removeEventListener("abort", close);
    close();
    await reading;
  }
}

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  return stoq.plugin({
    name: "clamav",
    version: "1.0.0",
    description: "ClamAV verdict on the payload, through clamd (option socket) or clamscan",
    classes: ["worker"],
    tools: { clamscan: "clamav" },
    options: {
      socket: z.string().min(1).optional(),
      database: z.string().min(1).optional(),
      all_matches: z.boolean().default(false),
      // With no socket set: use clamd when it answers on one of clamd_sockets, else clamscan.
      prefer_clamd: z.boolean().default(true),
      // Where clamd listens by default (Debian's LocalSocket; Fedora: /run/clamd.scan/clamd.sock).
      clamd_sockets: z.array(z.string().min(1)).default(DEFAULT_SOCKETS),
    },
    create: (opts, ctx) => {
      if (opts.socket !== undefined && opts.database !== undefined) {
        throw new Error(
          "option database is for clamscan; with socket set, clamd uses DatabaseDirectory from its clamd.conf",
        );
      }
      if (opts.socket !== undefined && opts.all_matches) {
        throw new Error(
          'option all_matches is for clamscan; with socket set, put "AllMatchScan yes" in clamd.conf',
        );
      }
      // clamd's default socket, asked once on first use (a scan-less run never connects).
      let socket: Promise<string | undefined> | undefined = opts.socket !== undefined
        ? Promise.resolve(opts.socket)
        : undefined;
      const chooseSocket = () =>
        socket ??= (async () => {
          if (!opts.prefer_clamd || opts.database !== undefined || opts.all_matches) return;
          for (const path of opts.clamd_sockets) {
            if (await clamdAnswers(path)) {
              ctx.log.info(`using clamd at ${path}`);
              return path;
            }
          }
        })();
      // Why clamscan cannot work here (no signatures), once found out: not asked again.
      let unusable: string | undefined;
      let logged = false;
      const told = new WeakSet<Request>();
      const clamscanArgs = [
        "--no-summary",
        ...(opts.database ? [`--database=${opts.database}`] : []),
        ...(opts.all_matches ? ["--allmatch"] : []),
        "-",
      ];

      async function viaClamd(
        socket: string,
        content: Uint8Array,
        call: CallContext,
      ): Promise<WorkerResponse> {
        const { reply, sent, dropped } = await instream(socket, content, call.signal);
        if (/INSTREAM size limit exceeded/.test(reply)) {
          return {
            errors: [
              `clamd at ${socket}: INSTREAM size limit exceeded (payload of ${content.length} bytes); raise StreamMaxLength in clamd.conf`,
            ],
          };
        }
        if (dropped && !reply) {
          throw new Error(
            `clamd at ${socket} dropped the connection after ${sent} of ${content.length} bytes without a reply (${dropped.message}); a payload over StreamMaxLength in clamd.conf is the usual cause`,
          );
        }
        const report = parseReport(reply);
        if ("errors" in report) {
          return { errors: report.errors.map((e) => `clamd at ${socket}: ${e}`) };
        }
        if (!/^stream: /.test(reply)) {
          throw new Error(`clamd at ${socket}: unexpected reply ${JSON.stringify(reply)}`);
        }
        return { results: report };
      }

      async function viaClamscan(content: Uint8Array, call: CallContext): Promise<WorkerResponse> {
        const out = await call.exec("clamscan", clamscanArgs, {
          stdin: content,
          maxOutput: MAX_REPLY,
        });
        const stderr = out.stderr.trim().replace(/\s*\n\s*/g, "; ");
        if (/No supported database files found/.test(out.stderr)) {
          unusable = "clamscan found no signature database: run freshclam, set database, or " +
            `start clamd (clamscan: ${stderr})`;
          if (!logged) ctx.log.error(`${unusable}; clamav is skipped for the rest of this run`);
          logged = true;
          return { errors: [unusable] };
        }
        // Exit 0 is clean, 1 is found, anything else an error.
        if (out.code !== 0 && out.code !== 1) {
          throw new Error(`clamscan failed (exit ${out.code}): ${stderr || "no message"}`);
        }
        const report = parseReport(new TextDecoder().decode(out.stdout));
        if ("errors" in report) return { errors: report.errors.map((e) => `clamscan: ${e}`) };
        if (report.infected !== (out.code === 1)) {
          throw new Error(`clamscan exit ${out.code} disagrees with its report`);
        }
        return { results: report };
      }

      return {
        async scan(payload, request, call) {
          const clamd = await chooseSocket();
          if (clamd !== undefined) return await viaClamd(clamd, payload.content, call);
          if (unusable !== undefined) {
            // Said once per scan, not once per payload.
            if (told.has(request)) return null;
            told.add(request);
            return { errors: [unusable] };
          }
          const out = await viaClamscan(payload.content, call);
          if (unusable === undefined) return out;
          // Calls already running when the missing database was found say nothing more.
          if (told.has(request)) return null;
          told.add(request);
          return out;
        },
      };
    },
  });
};
