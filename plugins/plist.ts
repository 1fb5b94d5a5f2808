/**
 * Apple property lists, XML and binary (Strelka's ScanPlist): the keys, the whole value as JSON
 * (capped), launchd job fields (Label, Program, ProgramArguments, RunAtLoad, KeepAlive...) and
 * app bundle fields, with findings for persistence and for jobs that run shells or programs
 * from temporary or hidden folders. Parsers: lib/plist/.
 */
import type { Finding, StoqAPI } from "../core/engine/plugin.ts";
import { parseBinaryPlist } from "./lib/plist/binary.ts";
import { PlistError, type PlistLimits, type PlistValue, toJson } from "./lib/plist/value.ts";
import { parseXmlPlist } from "./lib/plist/xml.ts";
import { decodeXml } from "./lib/xml/parser.ts";

/** launchd.plist(5) keys → result keys. */
const LAUNCHD: Record<string, string> = {
  Label: "label",
  Program: "program",
  ProgramArguments: "program_arguments",
  RunAtLoad: "run_at_load",
  KeepAlive: "keep_alive",
  StartInterval: "start_interval",
  StartCalendarInterval: "start_calendar_interval",
  WatchPaths: "watch_paths",
  QueueDirectories: "queue_directories",
  StartOnMount: "start_on_mount",
  LaunchOnlyOnce: "launch_only_once",
  Disabled: "disabled",
  UserName: "user_name",
  GroupName: "group_name",
  WorkingDirectory: "working_directory",
  RootDirectory: "root_directory",
  EnvironmentVariables: "environment_variables",
  StandardInPath: "standard_in_path",
  StandardOutPath: "standard_out_path",
  StandardErrorPath: "standard_error_path",
  LimitLoadToSessionType: "limit_load_to_session_type",
  AbandonProcessGroup: "abandon_process_group",
  MachServices: "mach_services",
  Sockets: "sockets",
};
/** Info.plist keys → result keys. */
const BUNDLE: Record<string, string> = {
  CFBundleIdentifier: "identifier",
  CFBundleExecutable: "executable",
  CFBundleName: "name",
  CFBundleShortVersionString: "version",
  LSUIElement: "ui_element",
  LSBackgroundOnly: "background_only",
  LSMinimumSystemVersion: "minimum_system_version",
};
const SUSPECT_DIR = /^(?:\/private)?\/(?:tmp|var\/tmp)\/|^\/Users\/Shared\/|\/\.[^/]+/;
const INTERPRETER =
  /(?:^|\/)(?:sh|bash|zsh|dash|ksh|tcsh|csh|python[\d.]*|perl[\d.]*|ruby|osascript|curl|wget|nc|ncat|openssl|base64)$/;

export default (stoq: StoqAPI) => {
  const z = stoq.z;
  return stoq.plugin({
    name: "plist",
    version: "1.0.0",
    description:
      "Apple property lists (XML and binary): keys, value, launchd job and bundle fields",
    classes: ["worker"],
    options: {
      max_objects: z.number().int().positive().default(20000),
      max_depth: z.number().int().positive().default(64),
      max_string: z.number().int().positive().default(1024),
      max_data: z.number().int().positive().default(1024),
      max_keys: z.number().int().positive().default(200),
      max_value_size: z.number().int().positive().default(256 * 1024),
    },
    create: (opts) => {
      const limits: PlistLimits = {
        maxObjects: opts.max_objects,
        maxDepth: opts.max_depth,
        maxString: opts.max_string,
        maxData: opts.max_data,
      };
      return {
        async scan(payload) {
          const c = payload.content;
          const binary = c[0] === 0x62 && new TextDecoder().decode(c.subarray(0, 6)) === "bplist";
          const format = binary ? "binary" : "xml";
          let value: PlistValue;
          try {
            value = binary
              ? parseBinaryPlist(c, limits)
              : await parseXmlPlist(decodeXml(c).text, limits);
          } catch (e) {
            if (!(e instanceof PlistError)) throw e;
            const where = binary ? `offset ${e.at}` : `line ${e.at}`;
            return {
              results: { format },
              errors: [`plist: malformed ${format} plist at ${where}: ${e.message}`],
            };
          }
          const json = toJson(value);
          const dict = json !== null && typeof json === "object" && !Array.isArray(json)
            ? json as Record<string, unknown>
            : undefined;
          const keys = dict ? Object.keys(dict) : [];
          const results: Record<string, unknown> = {
            format,
            top_type: Array.isArray(json) ? "array" : dict ? "dict" : typeof json,
            keys: keys.slice(0, opts.max_keys),
          };
          if (keys.length > opts.max_keys) results.keys_truncated = true;
          const pick = (map: Record<string, string>) => {
            const out: Record<string, unknown> = {};
            for (const [k, v] of Object.entries(map)) if (dict && k in dict) out[v] = dict[k];
            return Object.keys(out).length ? out : undefined;
          };
          const launchd =
            dict && "Label" in dict && ("Program" in dict || "ProgramArguments" in dict)
              ? pick(LAUNCHD)
              : undefined;
          if (launchd) results.launchd = launchd;
          const bundle = pick(BUNDLE);
          if (bundle) results.bundle = bundle;
          // The whole value, unless its JSON is larger than max_value_size.
          const size = JSON.stringify(json).length;
          if (size <= opts.max_value_size) results.value = json;
          else results.value_omitted = `${size} characters of JSON (more than max_value_size)`;
          results.findings = launchd ? launchdFindings(launchd) : [];
          return { results };
        },
      };
    },
  });
};

function launchdFindings(j: Record<string, unknown>): Finding[] {
  const out: Finding[] = [];
  const args = Array.isArray(j.program_arguments) ? j.program_arguments.map(String) : [];
  const program = typeof j.program === "string" ? j.program : args[0] ?? "";
  const keepAlive = j.keep_alive === true ||
    (j.keep_alive !== null && typeof j.keep_alive === "object");
  if (j.run_at_load === true || keepAlive) {
    out.push({
      id: "launchd_persistence",
      severity: "medium",
      title: "launchd job starts at load or is kept alive (Launch Agent/Daemon persistence)",
      detail: `${j.label}: ${[program, ...args.slice(1)].join(" ").slice(0, 300)}`,
      mitre: ["T1543.001", "T1543.004"],
    });
  }
  const paths = [program, ...args].filter((a) => a.startsWith("/") || a.startsWith("~"));
  const odd = paths.find((p) => SUSPECT_DIR.test(p));
  if (odd) {
    out.push({
      id: "launchd_program_in_suspicious_folder",
      severity: "high",
      title: "launchd job runs a program from a temporary, shared or hidden folder",
      detail: `${j.label}: ${odd}`,
      mitre: ["T1543.001", "T1564.001"],
    });
  }
  if (INTERPRETER.test(program) && args.some((a) => /^-(?:c|e)$/.test(a))) {
    out.push({
      id: "launchd_inline_script",
      severity: "high",
      title: "launchd job runs an inline shell or script command",
      detail: `${j.label}: ${args.join(" ").slice(0, 300)}`,
      mitre: [program.endsWith("osascript") ? "T1059.002" : "T1059.004"],
    });
  }
  return out;
}
