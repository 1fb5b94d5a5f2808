/** What an analyst would flag in a parsed shell link. */
import type { Finding } from "../../../core/engine/plugin.ts";
import type { LnkInfo } from "./parse.ts";

/** Programs that run a command line or script given as arguments (living-off-the-land binaries). */
const INTERPRETERS = new Set([
  "cmd.exe",
  "powershell.exe",
  "pwsh.exe",
  "mshta.exe",
  "wscript.exe",
  "cscript.exe",
  "rundll32.exe",
  "regsvr32.exe",
  "msiexec.exe",
  "certutil.exe",
  "bitsadmin.exe",
  "conhost.exe",
  "forfiles.exe",
  "curl.exe",
  "hh.exe",
  "wmic.exe",
  "schtasks.exe",
  "msbuild.exe",
  "installutil.exe",
  "regasm.exe",
  "explorer.exe",
  "finger.exe",
]);
const PROXY_EXECUTION = new Set(["mshta.exe", "rundll32.exe", "regsvr32.exe", "msiexec.exe"]);
/** Explorer's Properties dialog shows at most this many characters of a link's target field. */
const SHOWN_ARGUMENTS = 260;
const PADDING = /\s{16,}/;
const ENCODED = /(^|\s)[-/]e(nc(odedcommand)?|c)?\s+[A-Za-z0-9+/=]{16,}|frombase64string/i;
const REMOTE = /^(\\\\|[a-z][a-z0-9+.-]*:\/\/)/i;
const DOC_ICON = /\.(pdf|docx?|xlsx?|pptx?|rtf|txt|jpe?g|png|gif|html?|zip)(,-?\d+)?$/i;
const RUNNABLE = /\.(exe|com|bat|cmd|ps1|vbs|vbe|js|jse|hta|scr|pif|msi|dll|cpl)$/i;

const base = (p: string) => p.replace(/["']/g, "").split(/[\\/]/).pop()!.toLowerCase();

/** The findings for one link. */
export function lnkFindings(info: LnkInfo): Finding[] {
  const out: Finding[] = [];
  const targets = [
    info.target_path,
    info.relative_path,
    info.environment_target,
    info.target_id_list?.path,
  ].filter((t): t is string => !!t);
  const program = targets.map(base).find((b) => INTERPRETERS.has(b));
  const args = info.arguments ?? "";
  if (program && args.trim()) {
    out.push({
      id: "lnk_runs_interpreter",
      severity: "high",
      title: `Shortcut runs ${program} with arguments`,
      detail: `${program} ${args.trim().slice(0, 300)}`,
      mitre: ["T1204.002", PROXY_EXECUTION.has(program) ? "T1218" : "T1059"],
    });
    if (info.show_command === "SW_SHOWMINNOACTIVE") {
      out.push({
        id: "lnk_hidden_window",
        severity: "low",
        title: "Shortcut starts its program minimised, without focus",
        detail: `${program} runs with show command SW_SHOWMINNOACTIVE`,
        mitre: ["T1564.003"],
      });
    }
  }
  if (ENCODED.test(args)) {
    out.push({
      id: "lnk_encoded_command",
      severity: "high",
      title: "Shortcut arguments carry an encoded command",
      detail: args.trim().slice(0, 300),
      mitre: ["T1027", "T1059.001"],
    });
  }
  if (args.length > SHOWN_ARGUMENTS) {
    out.push({
      id: "lnk_long_arguments",
      severity: "medium",
      title: "Shortcut arguments are longer than Windows shows",
      detail: `${args.length} characters; the Properties dialog shows ${SHOWN_ARGUMENTS}`,
      mitre: ["T1564"],
    });
  }
  const pad = PADDING.exec(args);
  if (pad) {
    out.push({
      id: "lnk_padded_arguments",
      severity: "high",
      title: "Shortcut arguments are padded with whitespace to hide the command",
      detail: `${pad[0].length} whitespace characters at offset ${pad.index} of the arguments`,
      mitre: ["T1564", "T1027"],
    });
  }
  const remote = targets.find((t) => REMOTE.test(t)) ?? info.link_info?.net_name ?? undefined;
  if (remote) {
    out.push({
      id: "lnk_remote_target",
      severity: "medium",
      title: "Shortcut target is on a remote share or URL",
      detail: remote,
      mitre: ["T1204.002"],
    });
  }
  if (info.icon_location && REMOTE.test(info.icon_location)) {
    out.push({
      id: "lnk_remote_icon",
      severity: "medium",
      title: "Shortcut icon is fetched from a remote location (leaks NTLM credentials)",
      detail: info.icon_location,
      mitre: ["T1187"],
    });
  }
  const runnable = program ?? targets.map(base).find((b) => RUNNABLE.test(b));
  if (runnable && info.icon_location && DOC_ICON.test(info.icon_location)) {
    out.push({
      id: "lnk_document_icon",
      severity: "medium",
      title: "Shortcut to a program shows a document's icon",
      detail: `target ${runnable}, icon ${info.icon_location}`,
      mitre: ["T1036.008"],
    });
  }
  if (info.trailing_size > 0) {
    out.push({
      id: "lnk_appended_data",
      severity: "medium",
      title: "Data is appended after the shortcut's last block",
      detail:
        `${info.trailing_size} bytes at offset ${info.trailing_offset} (extracted as a child)`,
      mitre: ["T1027.009"],
    });
  }
  return out;
}
