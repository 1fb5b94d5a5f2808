/**
 * The built-in plugins, by name, each loaded by a literal dynamic import when a run first needs
 * it: a compiled binary still contains every one, and a run loads only the plugins it uses
 * (loading all of them cost 0.15 s of start-up in each thread). Keys are the plugins' names
 * (tests/loading/registry_test.ts checks).
 */
import type { PluginFactory } from "../core/engine/plugin.ts";

/** Loads one built-in plugin's factory. */
export type BuiltinLoader = () => Promise<PluginFactory>;

/** Every built-in plugin, by name. */
export const BUILTIN_PLUGINS: Readonly<Record<string, BuiltinLoader>> = {
  b64decode: async () => (await import("./b64decode.ts")).default,
  batch: async () => (await import("./batch.ts")).default,
  clamav: async () => (await import("./clamav.ts")).default,
  decompress: async () => (await import("./decompress.ts")).default,
  dirmon: async () => (await import("./dirmon.ts")).default,
  elasticsearch: async () => (await import("./elasticsearch.ts")).default,
  elf: async () => (await import("./elf.ts")).default,
  email: async () => (await import("./email.ts")).default,
  encrypted_office: async () => (await import("./encrypted_office.ts")).default,
  entropy: async () => (await import("./entropy.ts")).default,
  exif: async () => (await import("./exif.ts")).default,
  filedir: async () => (await import("./filedir.ts")).default,
  hash: async () => (await import("./hash.ts")).default,
  hash_ssdeep: async () => (await import("./hash_ssdeep.ts")).default,
  hash_tlsh: async () => (await import("./hash_tlsh.ts")).default,
  html: async () => (await import("./html.ts")).default,
  imagetrailer: async () => (await import("./imagetrailer.ts")).default,
  imap: async () => (await import("./imap.ts")).default,
  iocextract: async () => (await import("./iocextract.ts")).default,
  iqy: async () => (await import("./iqy.ts")).default,
  javascript: async () => (await import("./javascript.ts")).default,
  jnlp: async () => (await import("./jnlp.ts")).default,
  keywords: async () => (await import("./keywords.ts")).default,
  lnk: async () => (await import("./lnk.ts")).default,
  macho: async () => (await import("./macho.ts")).default,
  mimetype: async () => (await import("./mimetype.ts")).default,
  nats: async () => (await import("./nats.ts")).default,
  ole: async () => (await import("./ole.ts")).default,
  onenote: async () => (await import("./onenote.ts")).default,
  ooxml: async () => (await import("./ooxml.ts")).default,
  pdf: async () => (await import("./pdf.ts")).default,
  pe: async () => (await import("./pe.ts")).default,
  pecarve: async () => (await import("./pecarve.ts")).default,
  plist: async () => (await import("./plist.ts")).default,
  postgres: async () => (await import("./postgres.ts")).default,
  powershell: async () => (await import("./powershell.ts")).default,
  qr: async () => (await import("./qr.ts")).default,
  rabbitmq: async () => (await import("./rabbitmq.ts")).default,
  redis: async () => (await import("./redis.ts")).default,
  route: async () => (await import("./route.ts")).default,
  rtf: async () => (await import("./rtf.ts")).default,
  s3: async () => (await import("./s3.ts")).default,
  splunk: async () => (await import("./splunk.ts")).default,
  sqlite: async () => (await import("./sqlite.ts")).default,
  stdin: async () => (await import("./stdin.ts")).default,
  stdout: async () => (await import("./stdout.ts")).default,
  strings: async () => (await import("./strings.ts")).default,
  textreader: async () => (await import("./textreader.ts")).default,
  tnef: async () => (await import("./tnef.ts")).default,
  upx: async () => (await import("./upx.ts")).default,
  url_shortcut: async () => (await import("./url_shortcut.ts")).default,
  vba: async () => (await import("./vba.ts")).default,
  vbscript: async () => (await import("./vbscript.ts")).default,
  verdict: async () => (await import("./verdict.ts")).default,
  x509: async () => (await import("./x509.ts")).default,
  xml: async () => (await import("./xml.ts")).default,
  xordecode: async () => (await import("./xordecode.ts")).default,
  yara: async () => (await import("./yara.ts")).default,
};

/** Every built-in plugin's factory, loaded (for `stoq list`, tests and benchmarks). */
export function allBuiltins(): Promise<PluginFactory[]> {
  return Promise.all(Object.values(BUILTIN_PLUGINS).map((load) => load()));
}
