/*
   stoq file typing ("flavors"), part 1 of 2: the rules that decide from the start of a payload.
   Each rule's identifier is the flavor it gives a payload; the other part is typing.yar.

   The route plugin scans these rules over the first `typing_head_bytes` of a payload only
   (256 KiB by default), so typing costs the same on a 200 MB file as on a 200 KB one. A rule
   belongs here only when the first 256 KiB decide it exactly as the whole payload would: its
   patterns are all sought `at` or `in` offsets below 65,536 (plus the pattern's length), it
   reads no byte beyond that, and it compares `filesize` only with numbers below 65,536 (on a
   longer payload the prefix's size, 256 KiB, gives the same answer). A rule that needs more (a
   trailer at the end, a name anywhere in an archive, a length field to check against filesize)
   goes to typing.yar, which is scanned whole. tests/config/rules_test.ts checks the two parts
   against each other on real files padded past 256 KiB.

   Rules look at fixed offsets (magic bytes) wherever the format allows. A few flavors are
   specialisations that keep their container's flavor as well: ooxml_file and jar_file are also
   zip_file (so an unpacker still takes them), msi_file and msg_file are also olecf_file and
   deb_file also ar_file; everything else is exclusive. Heuristic flavors (email_file, html_file,
   javascript_file, powershell_file, vbscript_file, batch_file, base64_file) only look at the start
   of a payload; their limits are written next to each rule.
*/

import "hash"

rule pe_file
{
    meta:
        description = "Windows PE executable or DLL: MZ header whose e_lfanew points at a PE signature"
        mime = "application/vnd.microsoft.portable-executable"
    condition:
        uint16(0) == 0x5A4D and
        uint32(0x3C) >= 0x40 and uint32(0x3C) < 0x10000 and
        uint32(uint32(0x3C)) == 0x00004550
}

rule x509_der_file
{
    meta:
        description = "DER X.509 v3 certificate: SEQUENCE { TBSCertificate SEQUENCE { [0] version 2 ... } } with two-byte lengths"
        mime = "application/pkix-cert"
    condition:
        uint8(0) == 0x30 and uint8(1) == 0x82 and uint8(4) == 0x30 and uint8(5) == 0x82 and
        uint32be(8) == 0xA0030201 and uint16be(2) + 4 <= filesize
}

rule pkcs7_file
{
    meta:
        description = "PKCS#7 / CMS SignedData in DER or BER (.p7b, .p7s): a ContentInfo whose contentType is signedData"
        mime = "application/pkcs7-mime"
    strings:
        $signed_data = { 06 09 2A 86 48 86 F7 0D 01 07 02 }
    condition:
        // The OID follows the outer SEQUENCE's tag and its 1-5 length bytes (0x80: indefinite).
        uint8(0) == 0x30 and
        ($signed_data at 2 or $signed_data at 3 or $signed_data at 4 or $signed_data at 5 or $signed_data at 6)
}

rule x509_pem_file
{
    meta:
        description = "PEM certificate or PKCS#7 bundle: a BEGIN CERTIFICATE / TRUSTED CERTIFICATE / PKCS7 / CMS line in the first 1 KiB"
        mime = "application/x-pem-file"
    strings:
        $certificate = "-----BEGIN CERTIFICATE-----"
        $trusted = "-----BEGIN TRUSTED CERTIFICATE-----"
        $x509 = "-----BEGIN X509 CERTIFICATE-----"
        $pkcs7 = "-----BEGIN PKCS7-----"
        $cms = "-----BEGIN CMS-----"
    condition:
        any of them in (0..1024)
}

rule elf_file
{
    meta:
        description = "ELF executable, shared object or relocatable object"
        mime = "application/x-elf"
    condition:
        uint32(0) == 0x464C457F and
        (uint8(4) == 1 or uint8(4) == 2) and
        (uint8(5) == 1 or uint8(5) == 2)
}

rule macho_file
{
    meta:
        description = "Mach-O binary or object (32/64-bit, either byte order), or a fat/universal binary"
        mime = "application/x-mach-binary"
    condition:
        uint32(0) == 0xFEEDFACE or uint32(0) == 0xFEEDFACF or
        uint32be(0) == 0xFEEDFACE or uint32be(0) == 0xFEEDFACF or
        // Fat headers share CAFEBABE with Java classes. A fat header's next word is the number of
        // architectures (a handful); a class file's is minor/major version, and major >= 45.
        ((uint32be(0) == 0xCAFEBABE or uint32be(0) == 0xCAFEBABF) and
         uint32be(4) > 0 and uint32be(4) < 45 and
         // The first architecture's CPU type (ABI bits masked): x86, ARM or PowerPC.
         ((uint32be(8) & 0x00FFFFFF) == 7 or (uint32be(8) & 0x00FFFFFF) == 12 or
          (uint32be(8) & 0x00FFFFFF) == 18))
}

rule javaclass_file
{
    meta:
        description = "Java class file (CAFEBABE with a class-file major version, unlike a Mach-O fat header)"
        mime = "application/java-vm"
    condition:
        uint32be(0) == 0xCAFEBABE and
        uint16be(6) >= 45 and uint16be(6) < 100
}

rule olecf_file
{
    meta:
        description = "OLE2 compound file (legacy .doc/.xls/.ppt, .msi, vbaProject.bin, ...)"
        mime = "application/x-ole-storage"
    condition:
        uint32be(0) == 0xD0CF11E0 and uint32be(4) == 0xA1B11AE1
}

rule tnef_file
{
    meta:
        description = "TNEF stream (winmail.dat, application/ms-tnef): signature 0x223E9F78, a key, then a message (1) or attachment (2) level attribute"
        mime = "application/vnd.ms-tnef"
    condition:
        uint32(0) == 0x223E9F78 and filesize >= 6 and (filesize == 6 or uint8(6) == 1 or uint8(6) == 2)
}

rule zip_file
{
    meta:
        description = "ZIP archive (also every OOXML document and JAR)"
        mime = "application/zip"
    condition:
        // Local file header, empty archive (end of central directory), or a spanned archive.
        uint32(0) == 0x04034B50 or uint32(0) == 0x06054B50 or uint32(0) == 0x08074B50
}

rule rtf_file
{
    meta:
        description = "Rich Text Format; Word accepts any '{\\rt' prefix, so this does too"
        mime = "text/rtf"
    condition:
        uint32be(0) & 0xFFFFDFDF == 0x7B5C5254  // "{\rt", letters in either case
}

rule pdf_file
{
    meta:
        description = "PDF document; readers accept the header anywhere in the first 1024 bytes"
        mime = "application/pdf"
    strings:
        $pdf = "%PDF-"
    condition:
        $pdf in (0..1024)
}

rule _7zip_file
{
    meta:
        description = "7-Zip archive"
        mime = "application/x-7z-compressed"
    condition:
        uint32be(0) == 0x377ABCAF and uint16be(4) == 0x271C
}

rule rar_file
{
    meta:
        description = "RAR archive, version 1.5-4.x or 5.x"
        mime = "application/vnd.rar"
    condition:
        uint32be(0) == 0x52617221 and uint16be(4) == 0x1A07 and
        (uint8(6) == 0x00 or (uint8(6) == 0x01 and uint8(7) == 0x00))
}

rule gzip_file
{
    meta:
        description = "gzip stream (deflate)"
        mime = "application/gzip"
    condition:
        uint16be(0) == 0x1F8B and uint8(2) == 8
}

rule bzip2_file
{
    meta:
        description = "bzip2 stream: BZh, block size, then a block or the end-of-stream magic"
        mime = "application/x-bzip2"
    condition:
        uint16be(0) == 0x425A and uint8(2) == 0x68 and uint8(3) >= 0x31 and uint8(3) <= 0x39 and
        ((uint32be(4) == 0x31415926 and uint16be(8) == 0x5359) or
         (uint32be(4) == 0x17724538 and uint16be(8) == 0x5090))
}

rule xz_file
{
    meta:
        description = "xz stream"
        mime = "application/x-xz"
    condition:
        uint32be(0) == 0xFD377A58 and uint16be(4) == 0x5A00
}

rule tar_file
{
    meta:
        description = "tar archive: ustar/GNU magic at 257, or an old (v7) header whose checksum verifies"
        mime = "application/x-tar"
    strings:
        $ustar = "ustar"
    condition:
        filesize >= 512 and
        (
            $ustar at 257 or
            // v7 headers have no magic: the octal checksum at 148 must equal the byte sum of the
            // 512-byte header with the checksum field counted as eight spaces (0x100). Writers
            // use 6 digits then NUL and space, or 7 digits then NUL or space; leading spaces
            // count as 0 (a space & 7 is 0, as is '0' & 7).
            (
                uint8(0) != 0 and
                for all i in (148..153) : (uint8(i) == 0x20 or (uint8(i) >= 0x30 and uint8(i) <= 0x37)) and
                (
                    ((uint8(154) == 0 or uint8(154) == 0x20) and
                     ((uint8(148) & 7) << 15) + ((uint8(149) & 7) << 12) + ((uint8(150) & 7) << 9) +
                     ((uint8(151) & 7) << 6) + ((uint8(152) & 7) << 3) + (uint8(153) & 7) ==
                     hash.checksum32(0, 148) + hash.checksum32(156, 356) + 0x100)
                    or
                    (uint8(154) >= 0x30 and uint8(154) <= 0x37 and (uint8(155) == 0 or uint8(155) == 0x20) and
                     ((uint8(148) & 7) << 18) + ((uint8(149) & 7) << 15) + ((uint8(150) & 7) << 12) +
                     ((uint8(151) & 7) << 9) + ((uint8(152) & 7) << 6) + ((uint8(153) & 7) << 3) +
                     (uint8(154) & 7) ==
                     hash.checksum32(0, 148) + hash.checksum32(156, 356) + 0x100)
                )
            )
        )
}

rule cab_file
{
    meta:
        description = "Microsoft Cabinet archive (MSCF, reserved zero, format version 1.3)"
        mime = "application/vnd.ms-cab-compressed"
    condition:
        uint32be(0) == 0x4D534346 and uint32(4) == 0 and uint8(24) == 3 and uint8(25) == 1
}

rule iso_file
{
    meta:
        description = "ISO 9660 image: a volume descriptor (CD001) at sector 16, 17 or 18"
        mime = "application/x-iso9660-image"
    strings:
        $cd001 = "CD001"
    condition:
        $cd001 at 0x8001 or $cd001 at 0x8801 or $cd001 at 0x9001
}

rule udf_file
{
    meta:
        description = "UDF image (no ISO 9660 bridge): BEA01 then NSR02 or NSR03 in the volume recognition area"
        mime = "application/x-udf-image"
    strings:
        $bea = "BEA01"
        $nsr = /NSR0[23]/
    condition:
        not iso_file and $bea at 0x8001 and ($nsr at 0x8801 or $nsr at 0x9001 or $nsr at 0x8001 + 2048 * 2)
}

rule cpio_file
{
    meta:
        description = "cpio archive: binary (070707 in either byte order), odc (070707), newc (070701) or crc (070702) headers"
        mime = "application/x-cpio"
    strings:
        $ascii = /070(70[127])[0-9A-Fa-f]{6}/
    condition:
        uint16(0) == 0x71C7 or uint16be(0) == 0x71C7 or $ascii at 0
}

rule deb_file
{
    meta:
        description = "Debian package: an ar archive whose first member is debian-binary"
        mime = "application/vnd.debian.binary-package"
    condition:
        uint32be(0) == 0x213C6172 and uint32be(4) == 0x63683E0A and uint32be(8) == 0x64656269 and
        uint32be(12) == 0x616E2D62
}

rule ar_file
{
    meta:
        description = "ar archive (static library, .deb, .udeb): !<arch> and a newline"
        mime = "application/x-archive"
    condition:
        uint32be(0) == 0x213C6172 and uint32be(4) == 0x63683E0A
}

rule rpm_file
{
    meta:
        description = "RPM package: lead magic ED AB EE DB"
        mime = "application/x-rpm"
    condition:
        uint32be(0) == 0xEDABEEDB
}

rule xar_file
{
    meta:
        description = "XAR archive (macOS .pkg, .xip): xar! and a 28-byte or longer header"
        mime = "application/x-xar"
    condition:
        uint32be(0) == 0x78617221 and uint16be(4) >= 28
}

rule vhdx_file
{
    meta:
        description = "VHDX virtual disk: vhdxfile at 0"
        mime = "application/x-vhdx"
    condition:
        uint32be(0) == 0x76686478 and uint32be(4) == 0x66696C65
}

rule squashfs_file
{
    meta:
        description = "SquashFS image (either byte order), major version 4"
        mime = "application/x-squashfs"
    condition:
        (uint32be(0) == 0x68737173 and uint16(28) == 4) or (uint32be(0) == 0x73717368 and uint16be(28) == 4)
}

rule wim_file
{
    meta:
        description = "Windows imaging (WIM/ESD): MSWIM and three zero bytes"
        mime = "application/x-ms-wim"
    condition:
        uint32be(0) == 0x4D535749 and uint32be(4) == 0x4D000000
}

rule szdd_file
{
    meta:
        description = "Microsoft compress.exe file (SZDD or KWAJ), e.g. SETUP.EX_"
        mime = "application/x-ms-compress-szdd"
    condition:
        (uint32be(0) == 0x535A4444 and uint32be(4) == 0x88F02733) or
        (uint32be(0) == 0x4B57414A and uint32be(4) == 0x88F027D1)
}

rule chm_file
{
    meta:
        description = "Compiled HTML Help (ITSF, version 3)"
        mime = "application/vnd.ms-htmlhelp"
    condition:
        uint32be(0) == 0x49545346 and uint32(4) == 3
}

rule nsis_file
{
    meta:
        description = "Nullsoft installer data (EF BE AD DE NullsoftInst at offset 4): an NSIS setup's overlay, which the pe worker extracts"
        mime = "application/x-nsis"
    condition:
        uint32be(4) == 0xEFBEADDE and uint32be(8) == 0x4E756C6C and uint32be(12) == 0x736F6674 and
        uint32be(16) == 0x496E7374
}

rule zstd_file
{
    meta:
        description = "Zstandard frame"
        mime = "application/zstd"
    condition:
        uint32be(0) == 0x28B52FFD
}

rule lnk_file
{
    meta:
        description = "Windows shell link (.lnk): header size 0x4C and the ShellLink CLSID"
        mime = "application/x-ms-shortcut"
    condition:
        uint32(0) == 0x4C and
        uint32(4) == 0x00021401 and uint32(8) == 0 and uint32be(12) == 0xC0000000 and uint32be(16) == 0x00000046
}

rule onenote_file
{
    meta:
        description = "OneNote section (.one): the [MS-ONESTORE] file type GUID {7B5C52E4-D88C-4DA7-AEB1-5378D02996D3} at 0"
        mime = "application/onenote"
    condition:
        uint32(0) == 0x7B5C52E4 and uint32(4) == 0x4DA7D88C and
        uint32(8) == 0x7853B1AE and uint32(12) == 0xD39629D0
}

rule png_file
{
    meta:
        description = "PNG image"
        mime = "image/png"
    condition:
        uint32be(0) == 0x89504E47 and uint32be(4) == 0x0D0A1A0A
}

rule jpeg_file
{
    meta:
        description = "JPEG image (SOI then a marker)"
        mime = "image/jpeg"
    condition:
        uint16be(0) == 0xFFD8 and uint8(2) == 0xFF
}

rule gif_file
{
    meta:
        description = "GIF image (87a or 89a)"
        mime = "image/gif"
    strings:
        $gif87 = "GIF87a"
        $gif89 = "GIF89a"
    condition:
        $gif87 at 0 or $gif89 at 0
}

rule url_shortcut_file
{
    meta:
        description = "Windows Internet shortcut (.url): an INI file that starts with a [section] and has an [InternetShortcut] section in its first 2 KiB"
        mime = "application/x-mswinurl"
    strings:
        $section = "[InternetShortcut]" nocase
    condition:
        (uint8(0) == 0x5B or (uint16be(0) == 0xEFBB and uint8(2) == 0xBF and uint8(3) == 0x5B)) and
        $section in (0..2048)
}

rule iqy_file
{
    meta:
        description = "Excel web query (.iqy): the query type line WEB, then a line break"
        mime = "text/x-ms-iqy"
    condition:
        (uint16be(0) & 0xDFDF) == 0x5745 and (uint8(2) & 0xDF) == 0x42 and
        (uint8(3) == 0x0D or uint8(3) == 0x0A)
}

rule jnlp_file
{
    meta:
        description = "Java Web Start descriptor (.jnlp): markup that opens a <jnlp> element in its first 1 KiB"
        mime = "application/x-java-jnlp-file"
    strings:
        $jnlp = /<jnlp[\s>]/
    condition:
        (uint8(0) == 0x3C or uint8(0) == 0xEF or uint8(0) == 0x20 or uint8(0) == 0x0A or uint8(0) == 0x0D or uint8(0) == 0x09) and
        $jnlp in (0..1024)
}

rule plist_file
{
    meta:
        description = "Apple property list: binary (bplist00) or XML (a plist DOCTYPE or <plist> element in the first 1 KiB)"
        mime = "application/x-plist"
    strings:
        $doctype = "<!DOCTYPE plist"
        $plist = /<plist[\s>]/
    condition:
        (uint32be(0) == 0x62706C69 and uint32be(4) == 0x73743030) or
        ((uint8(0) == 0x3C or uint8(0) == 0xEF or uint8(0) == 0x20 or uint8(0) == 0x0A or uint8(0) == 0x0D or uint8(0) == 0x09) and
         ($doctype in (0..1024) or $plist in (0..1024)))
}

rule email_file
{
    meta:
        description = "RFC 822 / MIME message: starts with a header line and carries From:/Received:/Return-Path: and another message header"
        mime = "message/rfc822"
    strings:
        // The first line is an mbox "From " line or a header that starts real messages.
        $first = /^(From |(Received|Return-Path|From|Sender|Reply-To|To|Cc|Subject|Date|Message-ID|MIME-Version|Content-Type|Delivered-To|Envelope-To|DKIM-Signature|ARC-Seal|ARC-Message-Signature|ARC-Authentication-Results|Authentication-Results|Received-SPF|User-Agent|X-[A-Za-z0-9-]{1,60})[ \t]*:)/ nocase
        $origin_1 = "From:" nocase
        $origin_2 = "\nReceived:" nocase
        $origin_3 = "Return-Path:" nocase
        $other_1 = "\nTo:" nocase
        $other_2 = "\nSubject:" nocase
        $other_3 = "\nDate:" nocase
        $other_4 = "\nMessage-ID:" nocase
        $other_5 = "\nMIME-Version:" nocase
        $other_6 = "\nDelivered-To:" nocase
    condition:
        // Headers come first; 8 KiB covers long Received: chains of real mail.
        $first at 0 and any of ($origin_*) in (0..8192) and any of ($other_*) in (0..8192)
}

rule html_file
{
    meta:
        description = "HTML document: a doctype or <html>/<head>/<body> tag after optional BOM, whitespace, XML declaration or comment"
        mime = "text/html"
    strings:
        $html = /^(\xEF\xBB\xBF)?\s{0,256}(<\?xml[^>]{0,200}>\s{0,64})?(<!--[^>]{0,512}-->\s{0,64})?<(!doctype\s+html|html|head|body)[\s>]/ nocase
    condition:
        $html at 0
}

rule javascript_file
{
    meta:
        description = "JavaScript source (heuristic, conservative): text holding two kinds of JavaScript constructs near its start, at least one of them JavaScript-specific"
        mime = "application/javascript"
    strings:
        // Constructs shared with TypeScript and with code samples in prose: not enough on their own.
        $declaration = /(^|[;{}\n]\s*)(var|let|const)\s+[A-Za-z_$\[{][A-Za-z0-9_$,\]} ]{0,100}\s*=[^=]/
        $arrow = /\)\s*=>\s*[{(A-Za-z0-9_$"'`]/
        // JavaScript-specific constructs.
        $function = /(^|[^A-Za-z0-9_$.])function\*?\s*[A-Za-z_$][A-Za-z0-9_$]*\s*\([^)]{0,200}\)\s*\{/
        $anon_function = /(^|[=(,:!]\s*)function\s*\(/
        $strict = /^(#![^\n]{1,200}\n)?\s*["']use strict["']/
        $dom = /(^|[^A-Za-z0-9_$.])(document\.(getElementById|createElement|write|cookie|location)|window\.(location|open|setTimeout|addEventListener))\b/
        $console = "console.log("
        $require = /(^|[^A-Za-z0-9_$.])require\(\s*["'][^"']{1,200}["']\s*\)/
        $wsh = /(WScript\.(CreateObject|Shell|Echo|Sleep)|new\s+ActiveXObject\s*\()/
        $fromcharcode = "String.fromCharCode("
        $prototype = /[A-Za-z_$][A-Za-z0-9_$]*\.prototype\.[A-Za-z_$]/
    condition:
        // Text only: the first 256 bytes are printable, whitespace or UTF-8 (no NUL or other
        // control bytes). Not when it starts with '<' (HTML, XML, PHP), '{' (JSON, RTF) or a
        // Markdown heading ('#' then space or '#'; '#!' shebangs are fine). The evidence is sought
        // in the first 64 KiB. Plain ES modules that only use const/let and arrows are missed on
        // purpose: README code samples and TypeScript look the same.
        filesize > 0 and
        for all i in (0..255) : (i >= filesize or uint8(i) >= 0x20 or uint8(i) == 0x09 or uint8(i) == 0x0A or uint8(i) == 0x0D) and
        uint8(0) != 0x3C and uint8(0) != 0x7B and
        not (uint8(0) == 0x23 and (uint8(1) == 0x20 or uint8(1) == 0x23)) and
        2 of ($declaration, $arrow, $function, $anon_function, $strict, $dom, $console, $require, $wsh, $fromcharcode, $prototype) in (0..65536) and
        any of ($function, $anon_function, $strict, $dom, $console, $require, $wsh, $fromcharcode, $prototype) in (0..65536)
}

rule powershell_file
{
    meta:
        description = "PowerShell script or command line (heuristic): starts by running powershell/pwsh with an option, or holds two kinds of PowerShell-only constructs near its start"
        mime = "text/x-powershell"
    strings:
        // A command line: powershell[.exe] or pwsh, optionally quoted or with a path, then an option.
        $command = /^(\xEF\xBB\xBF)?\s{0,64}(&\s*)?["']?([A-Za-z]:\\[^\r\n"']{0,200}\\)?(powershell|pwsh)(\.exe)?["']?\s{1,16}[-\/][A-Za-z]/ nocase
        // Constructs PowerShell has and JavaScript, VBScript, batch and shell lack.
        $cmdlet = /\b(Get|Set|New|Remove|Add|Invoke|Start|Stop|Write|Read|Out|Import|Export|ConvertTo|ConvertFrom|Select|Where|ForEach|Test|Register|Clear)-[A-Z][A-Za-z]{2,40}([ \t]+[-$'"(@{]|[ \t]*(\||\r?\n|\)|;))/
        $env = /\$env:[A-Za-z_]/ nocase
        $static = /\]::[A-Za-z]/
        $pipeline_var = /\$_\.[A-Za-z]/
        $automatic = /\$(true|false|null|PSScriptRoot|PSVersionTable|PSHOME)\b/ nocase
        $cast = /\[(string|int|byte|char|bool|hashtable|scriptblock|System\.[A-Za-z]+|Convert|Text\.Encoding|IO\.[A-Za-z]+|Net\.[A-Za-z]+|Reflection\.[A-Za-z]+)(\[\])?\]/ nocase
        $param = /(^|\n)\s*(param\s*\(|\[CmdletBinding\()/ nocase
        // A Markdown code fence: documents with PowerShell samples are not scripts.
        $fence = "\n```"
    condition:
        // Text only (no control bytes in the first 256); not HTML/XML/JSON, C-like comments or
        // Markdown headings at the start ("<#" block comments are fine).
        filesize > 0 and
        for all i in (0..255) : (i >= filesize or uint8(i) >= 0x20 or uint8(i) == 0x09 or uint8(i) == 0x0A or uint8(i) == 0x0D) and
        (
            $command at 0 or
            (
                (uint8(0) != 0x3C or uint8(1) == 0x23) and uint8(0) != 0x7B and uint8(0) != 0x2F and
                not (uint8(0) == 0x23 and uint8(1) == 0x23) and
                not $fence in (0..65536) and
                not javascript_file and not html_file and
                2 of ($cmdlet, $env, $static, $pipeline_var, $automatic, $cast, $param) in (0..65536)
            )
        )
}

rule vbscript_file
{
    meta:
        description = "VBScript (heuristic): text holding two kinds of VBScript-only statements near its start"
        mime = "text/vbscript"
    strings:
        $create = /\bSet\s+[A-Za-z_][A-Za-z0-9_]{0,60}\s*=\s*(WScript\.)?(CreateObject|GetObject)\s*\(/ nocase
        $on_error = /\bOn\s+Error\s+Resume\s+Next\b/ nocase
        $end_block = /(^|\n)\s*End\s+(Sub|Function|If|With|Select)\b/ nocase
        $dim = /(^|\n)\s*(Dim|DIM|dim|ReDim|Const|CONST)\s+[A-Za-z_][A-Za-z0-9_]{0,60}\s*(,|\r?\n|=|\(|\s+As\s)/
        $chr = /\bChr[WB]?\s*\(\s*(&H)?[0-9A-F]{1,5}\s*\)\s*&/ nocase
        $option = /(^|\n)\s*Option\s+Explicit\b/ nocase
        $wscript = /\bWScript\.(Echo|Sleep|Quit|Arguments|ScriptFullName|CreateObject)\b/
        $sub = /(^|\n)\s*(Private\s+|Public\s+)?(Sub|Function)\s+[A-Za-z_][A-Za-z0-9_]{0,60}\s*(\(|\r?\n)/ nocase
        $fence = "\n```"
    condition:
        filesize > 0 and
        for all i in (0..255) : (i >= filesize or uint8(i) >= 0x20 or uint8(i) == 0x09 or uint8(i) == 0x0A or uint8(i) == 0x0D) and
        uint8(0) != 0x3C and uint8(0) != 0x7B and uint8(0) != 0x2F and uint8(0) != 0x23 and
        not $fence in (0..65536) and
        not javascript_file and
        2 of them in (0..65536)
}

rule batch_file
{
    meta:
        description = "Windows batch script (heuristic): starts with @echo off, rem, :: or setlocal, or holds two kinds of batch-only constructs near its start"
        mime = "text/x-msdos-batch"
    strings:
        $start = /^(\xEF\xBB\xBF)?\s{0,64}(@\s{0,8}echo\s+o(ff|n)\b|echo\s+off\b|@?rem(\s|$)|::[ \t\-=A-Za-z]|@?setlocal\b|@?chcp\s+\d+)/ nocase
        $args = /%~[dpnxfsatz]{1,6}[0-9]/ nocase
        $set_opt = /(^|\n|&)\s*@?set\s+\/[ap]\s/ nocase
        $goto = /(^|\n|&|\))[ \t]*@?(goto[ \t]+:?[A-Za-z_][A-Za-z0-9_]{0,60}[ \t]*\r?\n|call[ \t]+:[A-Za-z_])/ nocase
        $label = /\n:[A-Za-z_][A-Za-z0-9_]{0,60}\s*\r?\n/
        $if = /\bif\s+(not\s+)?(exist\s|errorlevel\s+\d|defined\s+[A-Za-z_])/ nocase
        $errorlevel = "%errorlevel%" nocase
        $substring = /%[A-Za-z_][A-Za-z0-9_]{0,60}:~-?\d+(,-?\d+)?%/
        $delayed = "enabledelayedexpansion" nocase
        $for = /\bfor\s+\/[fdlr]\s.{0,200}%%[A-Za-z]\b/ nocase
        $nul = /\s>\s?nul(\s|$)|2>&1\s*>\s?nul|>nul\s2>&1/ nocase
        $fence = "\n```"
    condition:
        filesize > 0 and
        for all i in (0..255) : (i >= filesize or uint8(i) >= 0x20 or uint8(i) == 0x09 or uint8(i) == 0x0A or uint8(i) == 0x0D) and
        uint8(0) != 0x3C and uint8(0) != 0x7B and
        (
            $start at 0 or
            (
                not $fence in (0..65536) and uint8(0) != 0x2F and
                not (uint8(0) == 0x23 and (uint8(1) == 0x20 or uint8(1) == 0x23 or uint8(1) == 0x21)) and
                2 of ($args, $set_opt, $goto, $label, $if, $errorlevel, $substring, $delayed, $for, $nul) in (0..65536) and
                // At least one statement, not only expressions that code in other languages quotes.
                any of ($set_opt, $goto, $label, $if, $for) in (0..65536)
            )
        )
}

rule base64_file
{
    meta:
        description = "Base64 text in lines of 76 (MIME, base64 -w 76) or 64 (PEM) characters, from the first byte"
        mime = "text/plain"
    condition:
        // stoQ's rule is the regex /^[A-Za-z0-9+\/]{76}\r?\n/; YARA-X flags such an atom-less
        // regex as slow, so this checks the first two lines byte by byte instead: two full lines of
        // the same width and line ending. Only the start is read, however large the payload. A
        // single-line blob (base64 -w 0) is not recognised.
        for any width in (64, 76) : (
            for any eol in (1, 2) : (
                filesize >= 2 * (width + eol) and
                ((eol == 1 and uint8(width) == 0x0A and uint8(2 * width + 1) == 0x0A) or
                 (eol == 2 and uint16be(width) == 0x0D0A and uint16be(2 * width + 2) == 0x0D0A)) and
                for all i in (0..width - 1) : (
                    ((uint8(i) >= 0x41 and uint8(i) <= 0x5A) or (uint8(i) >= 0x61 and uint8(i) <= 0x7A) or
                     (uint8(i) >= 0x2F and uint8(i) <= 0x39) or uint8(i) == 0x2B) and
                    ((uint8(width + eol + i) >= 0x41 and uint8(width + eol + i) <= 0x5A) or
                     (uint8(width + eol + i) >= 0x61 and uint8(width + eol + i) <= 0x7A) or
                     (uint8(width + eol + i) >= 0x2F and uint8(width + eol + i) <= 0x39) or
                     uint8(width + eol + i) == 0x2B)
                )
            )
        )
}
