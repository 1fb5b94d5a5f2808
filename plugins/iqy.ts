/**
 * Excel web queries (.iqy; Strelka's ScanIqy): the query type, version, URL, POST data, the
 * ["name","prompt"] parameters and the options lines. Opening one makes Excel fetch the URL and
 * place what it returns in a sheet, which attackers use to deliver DDE formulas and macros.
 */
import type { StoqAPI } from "../core/engine/plugin.ts";
import { classifyTarget, targetFindings } from "./lib/ioc/targets.ts";
import { payloadText } from "./lib/ioc/extract.ts";

const MAX_LINES = 1000;
const MAX_VALUE = 4096;

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "iqy",
    version: "1.0.0",
    description:
      "Excel web query files (.iqy): the URL Excel fetches, POST data, parameters, options",
    classes: ["worker"],
    create: () => ({
      scan(payload) {
        const lines = payloadText(payload.content).replace(/^\uFEFF/, "").split(/\r\n|\r|\n/)
          .slice(0, MAX_LINES).map((l) => l.trim().slice(0, MAX_VALUE));
        // Type and version lines are optional in what Excel accepts; the URL is the first line
        // with a scheme.
        let i = 0;
        while (i < lines.length && lines[i] === "") i++;
        const results: Record<string, unknown> = {};
        if (/^[A-Za-z]+$/.test(lines[i] ?? "") && !/:/.test(lines[i])) {
          results.query_type = lines[i++];
        }
        if (/^\d+$/.test(lines[i] ?? "")) results.version = Number(lines[i++]);
        const urlAt = lines.findIndex((l, j) => j >= i && /^[A-Za-z][A-Za-z0-9+.-]*:\S/.test(l));
        if (urlAt < 0) return { results, errors: ["iqy: no URL line: not a web query"] };
        const url = lines[urlAt];
        results.url = url;
        const options: Record<string, string> = {};
        let post: string | undefined;
        for (const line of lines.slice(urlAt + 1)) {
          const opt = /^([A-Za-z][A-Za-z0-9]{0,60})=(.*)$/.exec(line);
          if (opt && !line.includes("&")) options[opt[1]] = opt[2];
          else if (line && post === undefined && !Object.keys(options).length) post = line;
        }
        if (post !== undefined) results.post_data = post;
        const params = [
          ...`${url}\n${post ?? ""}`.matchAll(/\["([^"\]]{0,200})"(?:,"([^"\]]{0,500})")?\]/g),
        ]
          .map((m) => ({ name: m[1], prompt: m[2] ?? null }));
        if (params.length) results.parameters = params;
        if (Object.keys(options).length) results.options = options;
        const findings = targetFindings([{ where: "URL", target: url }]);
        const kind = classifyTarget(url).kind;
        if (kind === "url" || kind === "unc" || kind === "remote_file_url") {
          findings.unshift({
            id: "web_query",
            severity: "medium",
            title:
              "Excel web query: opening it fetches remote content into a sheet (DDE/macro delivery)",
            detail: url,
            mitre: ["T1204.002", "T1559.002"],
          });
        }
        results.findings = findings;
        return { results };
      },
    }),
  });
