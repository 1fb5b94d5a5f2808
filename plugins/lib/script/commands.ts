/**
 * Command lines that start PowerShell, found in the strings of another script (a VBScript's Run
 * argument, a batch line): each becomes a `.ps1` child, so the powershell analyzer decodes its
 * -EncodedCommand and reads its keywords.
 */
import { type Children, clip } from "./common.ts";

const PS_START = /(?:^|[\s"'\\/&|(;])((?:powershell|pwsh)(?:\.exe)?["']?[ \t]+\S)/i;

/** Adds a `powershell_N.ps1` child per string that runs PowerShell; returns what it found. */
export function powershellCommands(
  strings: Iterable<string>,
  children: Children,
  max = 100,
): string[] {
  const found: string[] = [];
  for (const s of strings) {
    const m = PS_START.exec(s);
    if (!m) continue;
    const command = s.slice(m.index + m[0].length - m[1].length).trim();
    found.push(clip(command, 500));
    children.add(command, {
      filename: `powershell_${found.length}.ps1`,
      source: "PowerShell command line",
    });
    if (found.length >= max) break;
  }
  return found;
}
