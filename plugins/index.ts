/**
 * The built-in plugins, by static import so that a compiled binary contains every one of them.
 * Heavy libraries are imported lazily inside the plugins, so listing them here costs little.
 */
import type { PluginFactory } from "../core/engine/plugin.ts";
import b64decode from "./b64decode.ts";
import batch from "./batch.ts";
import clamav from "./clamav.ts";
import decompress from "./decompress.ts";
import dirmon from "./dirmon.ts";
import elasticsearch from "./elasticsearch.ts";
import elf from "./elf.ts";
import email from "./email.ts";
import encryptedOffice from "./encrypted_office.ts";
import entropy from "./entropy.ts";
import exif from "./exif.ts";
import filedir from "./filedir.ts";
import hash from "./hash.ts";
import hashSsdeep from "./hash_ssdeep.ts";
import hashTlsh from "./hash_tlsh.ts";
import html from "./html.ts";
import imagetrailer from "./imagetrailer.ts";
import imap from "./imap.ts";
import iocextract from "./iocextract.ts";
import iqy from "./iqy.ts";
import javascript from "./javascript.ts";
import jnlp from "./jnlp.ts";
import keywords from "./keywords.ts";
import lnk from "./lnk.ts";
import macho from "./macho.ts";
import mimetype from "./mimetype.ts";
import nats from "./nats.ts";
import ole from "./ole.ts";
import onenote from "./onenote.ts";
import ooxml from "./ooxml.ts";
import pdf from "./pdf.ts";
import pe from "./pe.ts";
import pecarve from "./pecarve.ts";
import plist from "./plist.ts";
import postgres from "./postgres.ts";
import powershell from "./powershell.ts";
import qr from "./qr.ts";
import rabbitmq from "./rabbitmq.ts";
import redis from "./redis.ts";
import route from "./route.ts";
import rtf from "./rtf.ts";
import s3 from "./s3.ts";
import splunk from "./splunk.ts";
import sqlite from "./sqlite.ts";
import stdin from "./stdin.ts";
import stdout from "./stdout.ts";
import strings from "./strings.ts";
import textreader from "./textreader.ts";
import tnef from "./tnef.ts";
import upx from "./upx.ts";
import urlShortcut from "./url_shortcut.ts";
import vba from "./vba.ts";
import vbscript from "./vbscript.ts";
import verdict from "./verdict.ts";
import x509 from "./x509.ts";
import xml from "./xml.ts";
import xordecode from "./xordecode.ts";
import yara from "./yara.ts";

/** Every built-in plugin. */
export const BUILTIN_PLUGINS: readonly PluginFactory[] = [
  b64decode,
  batch,
  clamav,
  decompress,
  dirmon,
  elasticsearch,
  elf,
  email,
  encryptedOffice,
  entropy,
  exif,
  filedir,
  hash,
  hashSsdeep,
  hashTlsh,
  html,
  imagetrailer,
  imap,
  iocextract,
  iqy,
  javascript,
  jnlp,
  keywords,
  lnk,
  macho,
  mimetype,
  nats,
  ole,
  onenote,
  ooxml,
  pdf,
  pe,
  pecarve,
  plist,
  postgres,
  powershell,
  qr,
  rabbitmq,
  redis,
  route,
  rtf,
  s3,
  splunk,
  sqlite,
  stdin,
  stdout,
  strings,
  textreader,
  tnef,
  upx,
  urlShortcut,
  vba,
  vbscript,
  verdict,
  x509,
  xml,
  xordecode,
  yara,
];
