/** What an analyst would flag in a PE image, drawn from the parse's facts. */
import type { Finding } from "../../../core/engine/plugin.ts";
import { SCN_MEM_EXECUTE, SCN_MEM_WRITE } from "./constants.ts";
import type { PeFacts } from "./index.ts";

/** Sections whose entropy is above this are compressed or encrypted (packed code). */
export const PACKED_ENTROPY = 7.2;
const PACKER_SECTIONS: Record<string, string> = {
  ".aspack": "ASPack",
  ".adata": "ASPack",
  ".petite": "Petite",
  ".mpress1": "MPRESS",
  ".mpress2": "MPRESS",
  ".nsp0": "NsPack",
  ".nsp1": "NsPack",
  ".themida": "Themida",
  ".vmp0": "VMProtect",
  ".vmp1": "VMProtect",
  ".enigma1": "Enigma",
  "pec2": "PECompact",
  ".pec2": "PECompact",
  "mew": "MEW",
  ".packed": "RLPack",
};
/** Imports that together let a program write into and run code in another process. */
const INJECTION = ["VirtualAllocEx", "WriteProcessMemory", "CreateRemoteThread"];
const LOADER_ONLY = new Set([
  "LoadLibraryA",
  "LoadLibraryW",
  "LoadLibraryExA",
  "LoadLibraryExW",
  "GetProcAddress",
  "GetModuleHandleA",
  "GetModuleHandleW",
  "ExitProcess",
  "VirtualAlloc",
  "VirtualProtect",
]);

const iso = (s: number) => new Date(s * 1000).toISOString();

/** The findings for one parsed image. */
export function peFindings(f: PeFacts, now: Date): Finding[] {
  const out: Finding[] = [];
  const add = (
    id: string,
    severity: Finding["severity"],
    title: string,
    detail: string,
    mitre?: string[],
  ) => out.push({ id, severity, title, detail, ...(mitre ? { mitre } : {}) });
  const h = f.headers;
  if (f.upx.length) {
    add("packed_upx", "medium", "packed with UPX", f.upx.join("; "), ["T1027.002"]);
  }
  const packers = [
    ...new Set(f.sections.map((s) => PACKER_SECTIONS[s.name.toLowerCase()]).filter(Boolean)),
  ];
  if (packers.length) {
    add(
      "packer_sections",
      "medium",
      `section names of ${packers.join(", ")}`,
      f.sections.map((s) => s.name).join(", "),
      ["T1027.002"],
    );
  }
  const dense = f.sections.filter((s) => s.entropy > PACKED_ENTROPY && s.raw_size > 0);
  if (dense.length) {
    add(
      "high_entropy_section",
      "medium",
      `packed or encrypted: section entropy > ${PACKED_ENTROPY}`,
      dense.map((s) => `${s.name} ${s.entropy.toFixed(2)}`).join(", "),
      ["T1027.002"],
    );
  }
  const soon = now.getTime() / 1000 + 86400;
  if (!f.isRepro && h.time_date_stamp > soon) {
    add(
      "timestamp_future",
      "medium",
      "compile timestamp in the future",
      `header TimeDateStamp ${iso(h.time_date_stamp)} (${h.time_date_stamp})`,
      ["T1070.006"],
    );
  }
  for (const t of f.debugStamps) {
    if (t > soon) {
      add("debug_timestamp_future", "low", "debug directory timestamp in the future", iso(t), [
        "T1070.006",
      ]);
      break;
    }
  }
  if (
    !f.isRepro && h.time_date_stamp && f.debugStamps.length && f.debugStamps[0] &&
    Math.abs(f.debugStamps[0] - h.time_date_stamp) > 86400
  ) {
    add(
      "timestamp_mismatch",
      "low",
      "header and debug timestamps disagree",
      `header ${iso(h.time_date_stamp)}, debug ${iso(f.debugStamps[0])}: one was likely altered`,
      ["T1070.006"],
    );
  }
  const fnCount = f.imports.reduce((n, i) => n + i.functions.length, 0);
  if (f.imports.length === 0 && !f.kind.startsWith("efi")) {
    add(
      "no_imports",
      "medium",
      "no imports",
      "an executable that imports nothing resolves its API at run time (packed or shellcode-like)",
      ["T1106"],
    );
  } else if (
    fnCount > 0 && f.imports.every((i) => i.functions.every((fn) => LOADER_ONLY.has(fn)))
  ) {
    add(
      "loader_imports_only",
      "medium",
      "imports only loader functions",
      f.imports.flatMap((i) => i.functions).join(", "),
      ["T1106"],
    );
  }
  // P/Invoke declarations of a .NET assembly call the same APIs as an import table.
  const pinvoke = f.dotnet?.pinvoke ?? [];
  const allFns = new Set([
    ...f.imports.flatMap((i) => i.functions),
    ...pinvoke.map((p) => p.function),
  ]);
  if (INJECTION.every((fn) => allFns.has(fn))) {
    add(
      "process_injection_imports",
      "high",
      "imports for injecting code into another process",
      INJECTION.join(", "),
      ["T1055"],
    );
  }
  if (h.address_of_entry_point && f.entrySection === null) {
    add(
      "entry_point_outside_sections",
      "high",
      "entry point is outside every section",
      `AddressOfEntryPoint 0x${h.address_of_entry_point.toString(16)}`,
    );
  } else if (f.entrySection !== null) {
    const s = f.sections.find((x) => x.name === f.entrySection)!;
    const flags = parseInt(s.characteristics.value, 16);
    if (!(flags & SCN_MEM_EXECUTE)) {
      add(
        "entry_point_not_executable",
        "high",
        "entry point is in a section that is not executable",
        `${s.name} (${s.characteristics.flags.join(", ")})`,
      );
    } else if (f.sections.length > 1 && f.sections.at(-1)!.name === s.name) {
      add(
        "entry_point_last_section",
        "medium",
        "entry point is in the last section",
        `${s.name}: typical of packers and infectors`,
        ["T1027.002"],
      );
    }
  }
  const wx = f.sections.filter((s) => {
    const v = parseInt(s.characteristics.value, 16);
    return (v & SCN_MEM_WRITE) !== 0 && (v & SCN_MEM_EXECUTE) !== 0;
  });
  if (wx.length) {
    add(
      "writable_executable_section",
      "medium",
      "section is writable and executable",
      wx.map((s) => s.name).join(", "),
    );
  }
  if (f.tlsCallbacks) {
    add(
      "tls_callbacks",
      "low",
      "TLS callbacks run before the entry point",
      `${f.tlsCallbacks} callback(s)`,
    );
  }
  for (const r of f.resources) {
    if (r.embedded === "pe" || r.embedded === "elf") {
      add(
        "resource_executable",
        "medium",
        "a resource holds an executable",
        `${r.type}/${r.name} is ${r.embedded.toUpperCase()}`,
        ["T1027.009"],
      );
    } else if (r.embedded) {
      add(
        "resource_embedded_file",
        "low",
        "a resource holds an embedded file",
        `${r.type}/${r.name} is ${r.embedded}`,
        ["T1027.009"],
      );
    }
  }
  if (f.overlay) {
    const o = f.overlay;
    const dense = o.entropy > PACKED_ENTROPY;
    add(
      "overlay",
      dense ? "medium" : "low",
      dense ? "high-entropy data appended after the image" : "data appended after the image",
      `${o.size} bytes at offset ${o.offset}, entropy ${o.entropy.toFixed(2)}`,
    );
  }
  if (f.checksum.stored !== 0 && f.checksum.stored !== f.checksum.computed) {
    add(
      "checksum_mismatch",
      f.kind === "driver" ? "medium" : "low",
      "stored PE checksum is wrong",
      `stored 0x${f.checksum.stored.toString(16)}, computed 0x${
        f.checksum.computed.toString(16)
      }: the file was modified after linking`,
    );
  }
  if (f.rich && !f.rich.checksum_valid) {
    add(
      "rich_header_tampered",
      "medium",
      "Rich header checksum does not match",
      "the Rich header was edited or transplanted from another file",
      ["T1036"],
    );
  }
  const sig = f.signature;
  if (sig) {
    const sigs = sig.entries.flatMap((e) => e.signatures);
    if (sigs.some((s) => !s.digest_matches)) {
      const bad = sigs.find((s) => !s.digest_matches)!;
      add(
        "signature_mismatch",
        "high",
        "signature does not match",
        `the signed image digest ${bad.signed_digest} differs from this file's ${bad.computed_digest} (${bad.digest_algorithm}): the file was changed after signing`,
        ["T1553.002"],
      );
    }
    const signers = sigs.flatMap((s) => s.signers);
    if (signers.some((s) => s.signature_verified === false || s.message_digest_matches === false)) {
      add(
        "signer_signature_invalid",
        "high",
        "signer's signature does not verify",
        "the signed attributes or content digest do not verify with the signer certificate's key",
        ["T1553.002"],
      );
    }
    for (const s of sigs) {
      const leaf = s.signers[0]?.certificate;
      const cert = leaf === null || leaf === undefined ? undefined : s.certificates[leaf];
      if (!cert) continue;
      if (cert.self_signed) {
        add("self_signed_signer", "medium", "signed with a self-signed certificate", cert.subject, [
          "T1553.002",
        ]);
      }
      if (cert.expired && !s.signers[0].timestamps.length) {
        add(
          "signer_certificate_expired",
          "low",
          "signer certificate expired and the signature has no timestamp",
          `${cert.subject}: not after ${cert.not_after}`,
        );
      }
    }
    if (sig.data_after_table > 0) {
      add(
        "data_after_signature",
        "medium",
        "data after the certificate table",
        `${sig.data_after_table} bytes follow the signature`,
      );
    }
  }
  const clr = f.dotnet;
  if (clr && !clr.flags.names.includes("ILONLY")) {
    add(
      "dotnet_mixed_mode",
      "low",
      "mixed-mode .NET assembly (native code beside IL)",
      `CLR flags ${clr.flags.value} lack ILONLY: the image holds native code a .NET decompiler does not show`,
    );
  }
  if (clr?.entry_point_rva !== undefined) {
    add(
      "dotnet_native_entry_point",
      "medium",
      ".NET assembly starts in native code",
      `NATIVE_ENTRYPOINT: the runtime calls native code at RVA 0x${
        clr.entry_point_rva.toString(16)
      } instead of a managed method`,
    );
  }
  return out;
}
