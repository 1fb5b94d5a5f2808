/**
 * Java Web Start descriptors (.jnlp; Strelka's ScanJnlp, deeper): codebase, href, title and
 * vendor, the JARs (each resolved against the codebase), native libraries, extensions, the main
 * class and arguments, properties, the Java versions asked for and the security level, with
 * findings for remote code and unsandboxed permissions. Read with the shared XML reader (lib/xml/parser.ts).
 */
import type { Finding, StoqAPI } from "../core/engine/plugin.ts";
import { classifyTarget, targetFindings } from "./lib/ioc/targets.ts";
import { decodeXml, parseXml } from "./lib/xml/parser.ts";

const MAX_ITEMS = 200;

/** Resolves `href` against `base` as Java Web Start does; the href as is when it cannot. */
function resolve(href: string, base: string | undefined): string {
  try {
    return new URL(href, base && !base.endsWith("/") ? `${base}/` : base).href;
  } catch {
    return href;
  }
}

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "jnlp",
    version: "1.0.0",
    description:
      "Java Web Start descriptors (.jnlp): codebase, JARs, main class, arguments, security",
    classes: ["worker"],
    create: () => ({
      async scan(payload, _request, call) {
        const r: Record<string, unknown> = {};
        const jars: Record<string, unknown>[] = [];
        const natives: string[] = [];
        const extensions: { name: string | null; href: string }[] = [];
        const properties: Record<string, string> = {};
        const java: string[] = [];
        const args: string[] = [];
        let security: string | null = null;
        let inArgument = false;
        let textOf: string | null = null;
        let buf = "";
        let sawJnlp = false;
        const outcome = await parseXml(decodeXml(payload.content).text, {
          open(tag) {
            const a = (n: string) => tag.attributes[n]?.value;
            switch (tag.local) {
              case "jnlp":
                if (sawJnlp) break;
                sawJnlp = true;
                for (const k of ["spec", "version", "codebase", "href"]) {
                  if (a(k) !== undefined) r[k] = a(k);
                }
                break;
              case "title":
              case "vendor":
              case "description":
                textOf = tag.local;
                buf = "";
                break;
              case "homepage":
                if (a("href")) r.homepage = a("href");
                break;
              case "all-permissions":
              case "j2ee-application-client-permissions":
                security = tag.local;
                break;
              case "j2se":
              case "java":
                if (java.length < MAX_ITEMS) {
                  java.push([a("version"), a("href")].filter(Boolean).join(" "));
                }
                break;
              case "jar":
                if (a("href") && jars.length < MAX_ITEMS) {
                  const jar: Record<string, unknown> = { href: a("href") };
                  for (const k of ["main", "version", "download"]) {
                    if (a(k) !== undefined) jar[k] = a(k);
                  }
                  jars.push(jar);
                }
                break;
              case "nativelib":
                if (a("href") && natives.length < MAX_ITEMS) natives.push(a("href")!);
                break;
              case "extension":
                if (a("href") && extensions.length < MAX_ITEMS) {
                  extensions.push({ name: a("name") ?? null, href: a("href")! });
                }
                break;
              case "property":
                if (
                  a("name") !== undefined && Object.keys(properties).length < MAX_ITEMS
                ) {
                  properties[a("name")!] = a("value") ?? "";
                }
                break;
              case "application-desc":
              case "applet-desc":
              case "installer-desc":
                r.descriptor = tag.local;
                if (a("main-class")) r.main_class = a("main-class");
                if (a("documentbase")) r.document_base = a("documentbase");
                break;
              case "argument":
                inArgument = true;
                buf = "";
                break;
            }
          },
          text(t) {
            if ((inArgument || textOf) && buf.length < 4096) buf += t;
          },
          close(name) {
            const local = name.slice(name.indexOf(":") + 1);
            if (local === "argument" && inArgument) {
              if (args.length < MAX_ITEMS) args.push(buf.trim());
              inArgument = false;
            } else if (textOf === local) {
              if (!(local in r)) r[local] = buf.trim();
              textOf = null;
            }
          },
        }, { stop: () => call.signal.aborted });
        if (!sawJnlp) return { errors: ["jnlp: no <jnlp> element: not a JNLP file"] };
        const codebase = typeof r.codebase === "string" ? r.codebase : undefined;
        for (const jar of jars) jar.url = resolve(String(jar.href), codebase);
        r.jars = jars;
        if (natives.length) r.native_libraries = natives.map((h) => resolve(h, codebase));
        if (extensions.length) {
          r.extensions = extensions.map((e) => ({ ...e, url: resolve(e.href, codebase) }));
        }
        if (args.length) {
          r.arguments = args;
        }
        if (Object.keys(properties).length) r.properties = properties;
        if (java.length) r.java_versions = java;
        r.security = security;
        if (outcome.errors.length) r.parse_errors = outcome.errors;
        r.findings = findings(r, jars.map((j) => String(j.url)), codebase);
        return { results: r };
      },
    }),
  });

function findings(r: Record<string, unknown>, jarUrls: string[], codebase?: string): Finding[] {
  const out: Finding[] = [];
  const remote = jarUrls.filter((u) =>
    ["url", "unc", "remote_file_url"].includes(classifyTarget(u).kind)
  );
  if (remote.length) {
    out.push({
      id: "remote_jar",
      severity: "medium",
      title: "Java Web Start downloads and runs JARs from a remote host",
      detail: remote.slice(0, 5).join("; "),
      mitre: ["T1204.002"],
    });
  }
  if (r.security === "all-permissions") {
    out.push({
      id: "all_permissions",
      severity: "medium",
      title: "the application asks for all-permissions (runs outside the Java sandbox)",
      detail: `main class ${r.main_class ?? "unknown"}`,
    });
  }
  if (jarUrls.some((u) => u.startsWith("http:"))) {
    out.push({
      id: "cleartext_download",
      severity: "low",
      title: "JARs are fetched over plain HTTP",
      detail: jarUrls.filter((u) => u.startsWith("http:")).slice(0, 5).join("; "),
    });
  }
  const targets = [
    ...(codebase ? [{ where: "codebase", target: codebase }] : []),
    ...jarUrls.map((u) => ({ where: "jar", target: u })),
  ];
  out.push(...targetFindings(targets).filter((f) => f.id !== "executable_url"));
  return out;
}
