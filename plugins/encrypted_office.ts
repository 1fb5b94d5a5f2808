/**
 * Password-protected Office documents: tells how an OLE compound file is encrypted (encrypted
 * OOXML: Agile, Standard, Extensible, IRM; .doc/.xls/.ppt: RC4, RC4 CryptoAPI, XOR), tries the
 * configured passwords (the payload's own `extra_data.passwords` first, as decompress does, and
 * Excel's built-in VelvetSweatshop) and emits the decrypted document as a child, saying which
 * password worked. Unencrypted compound files give `{encrypted: false}`. Parsing: lib/office_crypto/.
 */
import type { Finding, StoqAPI } from "../core/engine/plugin.ts";

export default (stoq: StoqAPI) =>
  stoq.plugin({
    name: "encrypted_office",
    version: "1.0.0",
    description: "Detects encrypted Office documents and decrypts them with a password list",
    classes: ["worker"],
    options: {
      passwords: stoq.z.array(stoq.z.string()).default([
        "infected",
        "VelvetSweatshop",
        "password",
        "malware",
        "virus",
      ]),
      // Each password tried costs spin_count hashes (Office writes 100,000; the format allows
      // 10,000,000, about 25 s per password here): files above this are reported, not tried.
      max_spin_count: stoq.z.number().int().positive().default(1_000_000),
    },
    create: (opts) => ({
      async scan(payload, _request, call) {
        const { openContainer, detectEncryption } = await import("./lib/office_crypto/detect.ts");
        const c = payload.content;
        if (c.length < 8 || c[0] !== 0xd0 || c[1] !== 0xcf || c[2] !== 0x11 || c[3] !== 0xe0) {
          return { errors: ["encrypted_office: not an OLE compound file (no D0CF11E0 header)"] };
        }
        let container;
        try {
          container = openContainer(c);
        } catch (e) {
          return {
            errors: [`encrypted_office: malformed OLE compound file: ${(e as Error).message}`],
          };
        }
        const report = detectEncryption(container);
        if (!report.encrypted) {
          return { results: { encrypted: false, container: report.container } };
        }
        const { decryptWith, WrongPassword } = await import("./lib/office_crypto/decrypt.ts");
        const { passwordsFor } = await import("./lib/archive/common.ts");
        const passwords = passwordsFor(payload, opts.passwords);
        const errors: string[] = [];
        let password: string | null = null;
        let decrypted: Uint8Array | undefined;
        let tried = 0;
        if (report.scheme === "irm") {
          errors.push(
            "encrypted_office: IRM (rights management) protection needs the rights server, not a password",
          );
        } else if ((report.spin_count ?? 0) > opts.max_spin_count) {
          errors.push(
            `encrypted_office: spin count ${report.spin_count} is above max_spin_count ` +
              `(${opts.max_spin_count}): no password was tried`,
          );
        } else if (
          report.scheme === "xor" || report.scheme === "extensible" ||
          report.scheme?.startsWith("unknown")
        ) {
          errors.push(
            `encrypted_office: ${report.scheme} encryption is detected but cannot be decrypted`,
          );
        } else {
          for (const p of passwords) {
            if (call.signal.aborted) throw call.signal.reason;
            tried++;
            try {
              decrypted = await decryptWith(payload.content, container, report, p);
              password = p;
              break;
            } catch (e) {
              if (e instanceof WrongPassword) continue;
              errors.push(`encrypted_office: decryption failed: ${(e as Error).message}`);
              break;
            }
          }
          if (!decrypted && !errors.length) {
            errors.push(
              `encrypted_office: none of the ${tried} passwords opened it (add the right one to the passwords option or to payload_meta.extra_data.passwords)`,
            );
          }
        }
        const findings: Finding[] = [{
          id: "office_encrypted",
          severity: "medium",
          title: "Password-protected Office document (its content is hidden from scanners)",
          detail:
            `${report.container}, ${report.scheme}${report.cipher ? ` (${report.cipher})` : ""}; ` +
            (password === null
              ? "not decrypted"
              : `decrypted with password ${JSON.stringify(password)}`),
          mitre: ["T1027.013"],
        }];
        if (password === "VelvetSweatshop") {
          findings.push({
            id: "office_velvetsweatshop",
            severity: "medium",
            title:
              "Encrypted with Excel's default password VelvetSweatshop: opens without a prompt",
            detail: "Excel decrypts it silently; only scanners are kept out",
            mitre: ["T1027.013"],
          });
        }
        const parent = payload.results.payload_meta.extra_data.filename;
        const ext = report.container === "ooxml" ? "" : `.${report.container}`;
        const name = typeof parent === "string" && parent
          ? parent.replace(/(\.[^./\\]+)?$/, (m) => `.decrypted${m || ext}`)
          : `decrypted${ext || ".ooxml"}`;
        return {
          results: {
            ...report,
            decrypted: decrypted !== undefined,
            password,
            passwords_tried: tried,
            findings,
          },
          extracted: decrypted
            ? [{
              content: decrypted,
              payload_meta: { extra_data: { filename: name, password, encryption: report.scheme } },
            }]
            : [],
          errors,
        };
      },
    }),
  });
