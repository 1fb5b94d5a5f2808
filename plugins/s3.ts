/**
 * stoQ's `s3`: an archiver that keeps payloads in an S3-compatible bucket under content-addressed
 * keys (sha256, fanned out like filedir's archive) and fetches them back for re-scans, and a
 * connector that writes each result document as `<scan_id>.json`. Requests are signed with
 * AWS Signature V4 (aws4fetch) and sent to any endpoint: AWS, MinIO, Ceph, Garage, R2...
 */
import type {
  CallContext,
  Payload,
  PayloadInput,
  StoqAPI,
  StoqResponse,
} from "../core/engine/plugin.ts";
import { fromEnv, type HttpReply, httpSender, sendRetrying, snippet } from "./lib/store/http.ts";

const SHA256 = /^[0-9a-f]{64}$/i;
// What S3 accepts as a bucket name (3-63 of lower case, digits, '.', '-').
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Where an object is. */
interface Location {
  bucket: string;
  path: string;
}

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "s3",
    version: "1.0.0",
    description: "Archives payloads in and fetches them from S3-compatible storage; saves results",
    classes: ["archiver", "connector"],
    options: {
      endpoint: stoq.z.url({ protocol: /^https?$/ }).optional(),
      region: stoq.z.string().min(1).default("us-east-1"),
      access_key: stoq.z.string().min(1).optional(),
      secret_key: stoq.z.string().min(1).optional(),
      session_token: stoq.z.string().min(1).optional(),
      archive_bucket: stoq.z.string().regex(BUCKET, "not a valid bucket name").optional(),
      connector_bucket: stoq.z.string().regex(BUCKET, "not a valid bucket name").optional(),
      path_style: stoq.z.boolean().default(true),
      use_sha: stoq.z.boolean().default(true),
      prefix: stoq.z.string().regex(/^([^/]+\/)*$/, 'empty, or folders ending in "/"').default(""),
      fan_out: stoq.z.number().int().min(0).max(16).default(5),
      verify_tls: stoq.z.boolean().default(true),
      ca_cert: stoq.z.string().min(1).optional(),
      timeout: stoq.z.number().positive().default(60),
      max_retries: stoq.z.number().int().min(0).default(3),
      retry_delay: stoq.z.number().positive().default(0.5),
    },
    async create(opts) {
      const accessKeyId = fromEnv(opts.access_key, "STOQ_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID");
      const secretAccessKey = fromEnv(
        opts.secret_key,
        "STOQ_S3_SECRET_KEY",
        "AWS_SECRET_ACCESS_KEY",
      );
      if (!accessKeyId || !secretAccessKey) {
        throw new Error(
          "s3: no credentials: set access_key and secret_key, or STOQ_S3_ACCESS_KEY and " +
            "STOQ_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        );
      }
      const sessionToken = fromEnv(
        opts.session_token,
        "STOQ_S3_SESSION_TOKEN",
        "AWS_SESSION_TOKEN",
      );
      const endpoint = new URL(opts.endpoint ?? `https://s3.${opts.region}.amazonaws.com`);
      const { AwsV4Signer } = await import("aws4fetch");
      const sender = await httpSender(opts);

      /** The object's URL: `endpoint/bucket/key` (path style) or `bucket.endpoint/key`. */
      const urlOf = ({ bucket, path }: Location) => {
        const u = new URL(endpoint.href);
        const key = path.split("/").map(encodeURIComponent).join("/");
        const base = u.pathname.replace(/\/+$/, "");
        if (opts.path_style) u.pathname = `${base}/${bucket}/${key}`;
        else {
          u.hostname = `${bucket}.${u.hostname}`;
          u.pathname = `${base}/${key}`;
        }
        return u.href;
      };

      /** Signs and sends one request, retrying throttling, 5xx and network errors. */
      const request = async (
        method: "GET" | "HEAD" | "PUT",
        loc: Location,
        call: CallContext,
        body?: Uint8Array,
        headers: Record<string, string> = {},
      ): Promise<HttpReply> => {
        const url = urlOf(loc);
        try {
          const { reply } = await sendRetrying(
            sender,
            async () => {
              const signer = new AwsV4Signer({
                method,
                url,
                headers,
                body: body as BodyInit | undefined,
                accessKeyId,
                secretAccessKey,
                sessionToken,
                service: "s3",
                region: opts.region,
              });
              const signed = await signer.sign();
              return [signed.url.href, {
                method,
                headers: signed.headers,
                body,
                timeoutMs: opts.timeout * 1000,
              }];
            },
            opts,
            call.signal,
          );
          return reply;
        } catch (e) {
          throw new Error(
            `s3: ${method} s3://${loc.bucket}/${loc.path} failed: ${(e as Error).message}`,
          );
        }
      };

      const fail = (what: string, loc: Location, reply: HttpReply): never => {
        throw new Error(`s3: ${what} s3://${loc.bucket}/${loc.path}: ${s3Error(reply)}`);
      };

      const keyFor = (payload: Payload) => {
        if (!opts.use_sha) return opts.prefix + payload.results.payload_id;
        return opts.prefix + fanOut(payload.sha256, opts.fan_out);
      };

      const needBucket = (bucket: string | undefined, option: string): string => {
        if (!bucket) throw new Error(`s3: set ${option} (e.g. --plugin-opts s3:${option}=NAME)`);
        return bucket;
      };

      // A key ending in a sha256 names its content: `get` checks the bytes against it.
      const withSha = (loc: Location): { loc: Location; sha256?: string } => {
        const last = loc.path.split("/").pop() ?? "";
        return SHA256.test(last) ? { loc, sha256: last.toLowerCase() } : { loc };
      };

      /** Where `get` finds a payload, from what `archive` returned or what a user typed. */
      const locate = (task: unknown): { loc: Location; sha256?: string } => {
        if (typeof task === "string") {
          const s3url = task.match(/^s3:\/\/([^/]+)\/(.+)$/);
          if (s3url) return withSha({ bucket: s3url[1], path: s3url[2] });
          const bucket = needBucket(opts.archive_bucket, "archive_bucket");
          if (SHA256.test(task)) {
            const sha = task.toLowerCase();
            return { loc: { bucket, path: opts.prefix + fanOut(sha, opts.fan_out) }, sha256: sha };
          }
          return withSha({ bucket, path: task });
        }
        if (task && typeof task === "object") {
          const t = task as Record<string, unknown>;
          if (typeof t.bucket === "string" && typeof t.path === "string") {
            return withSha({ bucket: t.bucket, path: t.path });
          }
          if (typeof t.sha256 === "string") return locate(t.sha256);
          if (t.results && typeof t.results === "object") return locate(t.results);
        }
        throw new Error(
          `s3: cannot fetch ${JSON.stringify(task)}: give {bucket, path}, s3://bucket/key, ` +
            "a key in archive_bucket, or a sha256",
        );
      };

      return {
        async archive(payload: Payload, _request, call: CallContext) {
          const bucket = needBucket(opts.archive_bucket, "archive_bucket");
          const loc = { bucket, path: keyFor(payload) };
          // Content-addressed: an object already under this key holds these very bytes.
          if (opts.use_sha) {
            const head = await request("HEAD", loc, call);
            if (head.status === 200) return { results: loc };
            if (head.status !== 404) fail("cannot check", loc, head);
          }
          // The real digest, not UNSIGNED-PAYLOAD: S3 then refuses a body damaged on the way.
          const put = await request("PUT", loc, call, payload.content, {
            "x-amz-content-sha256": payload.sha256,
            "content-type": "application/octet-stream",
          });
          if (put.status !== 200) fail("cannot write", loc, put);
          return { results: loc };
        },

        async get(task: unknown, call: CallContext) {
          const { loc, sha256 } = locate(task);
          const got = await request("GET", loc, call);
          if (got.status !== 200) fail("cannot fetch", loc, got);
          if (sha256 && stoq.hash("sha256", got.body) !== sha256) {
            throw new Error(
              `s3: s3://${loc.bucket}/${loc.path} does not hold the payload its key names ` +
                `(sha256 ${stoq.hash("sha256", got.body)})`,
            );
          }
          return {
            content: got.body,
            payload_meta: { extra_data: { bucket: loc.bucket, path: loc.path } },
          } satisfies PayloadInput;
        },

        async save(response: StoqResponse, call: CallContext) {
          const bucket = needBucket(opts.connector_bucket, "connector_bucket");
          const loc = { bucket, path: `${opts.prefix}${response.scan_id}.json` };
          const body = new TextEncoder().encode(JSON.stringify(response));
          const put = await request("PUT", loc, call, body, {
            "x-amz-content-sha256": stoq.hash("sha256", body),
            "content-type": "application/json",
          });
          if (put.status !== 200) fail("cannot write", loc, put);
        },

        close: () => sender.close(),
      };
    },
  });

/** `a/b/c/d/e/abcde…` for a digest and fan-out depth 5: one folder level per leading character. */
export function fanOut(sha256: string, depth: number): string {
  return [...sha256.slice(0, depth), sha256].join("/");
}

/** S3's XML error as `Code: Message (HTTP status)`, or the status and body when it is not one. */
export function s3Error(reply: HttpReply): string {
  const text = new TextDecoder().decode(reply.body);
  const code = text.match(/<Code>([^<]*)<\/Code>/)?.[1];
  const message = text.match(/<Message>([^<]*)<\/Message>/)?.[1];
  if (code) return `${code}: ${message ?? ""} (HTTP ${reply.status})`;
  // HEAD answers carry no body.
  if (reply.status === 404) return "not found (HTTP 404)";
  if (reply.status === 403) return "access denied (HTTP 403): check the credentials and region";
  return `HTTP ${reply.status}${reply.body.length ? `: ${snippet(reply.body)}` : ""}`;
}
