/*
   stoq worker rules: a small set that is useful out of the box and quiet on ordinary files.
   Each rule names what it found; none of them is a verdict on its own. meta.severity (and
   meta.mitre) make a match a finding, which the verdict decorator weighs with the others: these
   rules corroborate what the analyzers (pe, vba, pdf, rtf, powershell...) report in detail, so
   they say "low", except EICAR, which no analyzer reports. Add your own rule files next to this
   one (see the README, "YARA rules").
*/

import "math"
import "pe"

rule eicar_test_file
{
    meta:
        description = "EICAR anti-malware test file: the 68-byte string at offset 0, optionally followed by whitespace, 128 bytes at most"
        author = "stoq"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
        severity = "critical"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar at 0 and filesize <= 128 and
        // The spec allows trailing space, tab, CR, LF and Ctrl-Z only.
        for all i in (68..127) : (
            i >= filesize or uint8(i) == 0x20 or uint8(i) == 0x09 or uint8(i) == 0x0D or
            uint8(i) == 0x0A or uint8(i) == 0x1A
        )
}

rule embedded_pe
{
    meta:
        description = "A PE image (MZ header whose e_lfanew leads to a PE signature) somewhere after offset 0; decoy MZ bytes before it do not hide it"
        author = "stoq"
        reference = "https://learn.microsoft.com/en-us/windows/win32/debug/pe-format"
        severity = "low"
        mitre = "T1027.009"
    strings:
        // Any MZ: linkers and packers write different DOS headers after it.
        $mz = "MZ"
    condition:
        // The first 100,000 candidates (pecarve's max_candidates) are checked, far above what
        // decoys in a real file reach; the loop runs once per MZ found, not 100,000 times.
        #mz > 0 and
        for any i in (1..math.min(#mz, 100000)) : (
            @mz[i] > 0 and
            uint32(@mz[i] + 0x3C) >= 4 and uint32(@mz[i] + 0x3C) < 0x10000000 and
            uint32(@mz[i] + uint32(@mz[i] + 0x3C)) == 0x00004550
        )
}

rule pe_process_injection_imports
{
    meta:
        description = "PE importing the classic remote-process injection trio: VirtualAllocEx, WriteProcessMemory, CreateRemoteThread"
        author = "stoq"
        reference = "https://attack.mitre.org/techniques/T1055/"
        severity = "low"
        mitre = "T1055"
    condition:
        pe.is_pe and
        pe.imports("kernel32.dll", "VirtualAllocEx") and
        pe.imports("kernel32.dll", "WriteProcessMemory") and
        (pe.imports("kernel32.dll", "CreateRemoteThread") or pe.imports("kernel32.dll", "CreateRemoteThreadEx"))
}

rule office_ole_vba_macros
{
    meta:
        description = "OLE2 document (or an extracted vbaProject.bin) holding a VBA project (_VBA_PROJECT stream)"
        author = "stoq"
        reference = "https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-ovba/"
        severity = "low"
        mitre = "T1059.005"
    strings:
        // Directory entry names are UTF-16LE.
        $vba_project = "_VBA_PROJECT" wide
    condition:
        uint32be(0) == 0xD0CF11E0 and uint32be(4) == 0xA1B11AE1 and $vba_project
}

rule office_ooxml_vba_macros
{
    meta:
        description = "Office Open XML document (.docm/.xlsm/.pptm) with a VBA project part (vbaProject.bin or vbaData.xml)"
        author = "stoq"
        reference = "https://learn.microsoft.com/en-us/openspecs/office_standards/ms-offmacro/"
        severity = "low"
        mitre = "T1059.005"
    strings:
        $content_types = "[Content_Types].xml"
        // Member names are stored uncompressed in the ZIP headers.
        $vba_bin = "vbaProject.bin"
        $vba_data = "vbaData.xml"
    condition:
        uint32(0) == 0x04034B50 and $content_types and ($vba_bin or $vba_data)
}

rule office_autoexec_macro
{
    meta:
        description = "VBA project with a macro that runs by itself (AutoOpen, Document_Open, Workbook_Open, ...)"
        author = "stoq"
        reference = "https://learn.microsoft.com/en-us/office/vba/word/concepts/customizing-word/auto-macros"
        severity = "low"
        mitre = "T1204.002"
    strings:
        $vba_project = "_VBA_PROJECT" wide
        // Office keeps procedure names in plain text in the VBA project's tables.
        $plain = /(Auto_?Open|Auto_?Close|AutoExec|AutoNew|AutoExit|Document_?Open|Document_?Close|Document_New|Document_BeforeClose|Workbook_Open|Workbook_Activate|Workbook_BeforeClose|Auto_Activate)[^A-Za-z0-9_]/ nocase
        // The module source is MS-OVBA compressed: runs of literal bytes with a flag byte every
        // eight tokens, so a name may be split once by an arbitrary byte.
        $compressed_1 = /W.?o.?r.?k.?b.?o.?o.?k.?_.?(O.?p.?e.?n|A.?c.?t.?i.?v.?a.?t.?e|B.?e.?f.?o.?r.?e.?C.?l.?o.?s.?e)/s
        $compressed_2 = /D.?o.?c.?u.?m.?e.?n.?t.?_.?(O.?p.?e.?n|C.?l.?o.?s.?e|N.?e.?w|B.?e.?f.?o.?r.?e.?C.?l.?o.?s.?e)/s
        $compressed_3 = /A.?u.?t.?o.?_?.?(O.?p.?e.?n|C.?l.?o.?s.?e|E.?x.?e.?c|N.?e.?w|E.?x.?i.?t)/s
    condition:
        uint32be(0) == 0xD0CF11E0 and uint32be(4) == 0xA1B11AE1 and $vba_project and
        ($plain or any of ($compressed_*))
}

rule pdf_javascript
{
    meta:
        description = "PDF with JavaScript (a /JavaScript action or a /JS entry)"
        author = "stoq"
        reference = "https://opensource.adobe.com/dc-acrobat-sdk-docs/pdfstandards/PDF32000_2008.pdf"
        severity = "low"
        mitre = "T1059.007"
    strings:
        $pdf = "%PDF-"
        $javascript = /\/JavaScript[\s\/<>\[\]()]/
        $js = /\/JS[\s\/<\[(]/
    condition:
        $pdf in (0..1024) and ($javascript or $js)
}

rule pdf_auto_action
{
    meta:
        description = "PDF with an automatic action (/OpenAction or /AA) and something for it to run (JavaScript or /Launch); a bare /OpenAction is only a view"
        author = "stoq"
        reference = "https://opensource.adobe.com/dc-acrobat-sdk-docs/pdfstandards/PDF32000_2008.pdf"
        severity = "low"
        mitre = "T1204.002"
    strings:
        $pdf = "%PDF-"
        $open_action = "/OpenAction"
        $aa = /\/AA[\s\/<]/
        $javascript = /\/JavaScript[\s\/<>\[\]()]/
        $js = /\/JS[\s\/<\[(]/
        $launch = /\/Launch[\s\/<>]/
    condition:
        $pdf in (0..1024) and ($open_action or $aa) and ($javascript or $js or $launch)
}

rule pdf_launch_action
{
    meta:
        description = "PDF with a /Launch action (opens a program or file)"
        author = "stoq"
        reference = "https://opensource.adobe.com/dc-acrobat-sdk-docs/pdfstandards/PDF32000_2008.pdf"
        severity = "low"
        mitre = "T1204.002"
    strings:
        $pdf = "%PDF-"
        $launch = /\/Launch[\s\/<>]/
    condition:
        $pdf in (0..1024) and $launch
}

rule pdf_embedded_file
{
    meta:
        description = "PDF with an embedded file (/EmbeddedFile stream or /EmbeddedFiles name tree)"
        author = "stoq"
        reference = "https://opensource.adobe.com/dc-acrobat-sdk-docs/pdfstandards/PDF32000_2008.pdf"
        severity = "low"
        mitre = "T1027.009"
    strings:
        $pdf = "%PDF-"
        $embedded = /\/EmbeddedFiles?[\s\/<>]/
    condition:
        $pdf in (0..1024) and $embedded
}

rule rtf_embedded_object
{
    meta:
        description = "RTF with an embedded OLE object (\\objdata)"
        author = "stoq"
        reference = "https://www.microsoft.com/en-us/download/details.aspx?id=10725"
        severity = "low"
        mitre = "T1027.009"
    strings:
        $objdata = "\\objdata" nocase
    condition:
        uint32be(0) & 0xFFFFDFDF == 0x7B5C5254 and $objdata
}

rule rtf_objupdate
{
    meta:
        description = "RTF object with \\objupdate: Word refreshes it on open, no click needed (used by CVE-2017-0199 style documents)"
        author = "stoq"
        reference = "https://www.microsoft.com/en-us/download/details.aspx?id=10725"
        severity = "low"
        mitre = "T1203"
    strings:
        $objupdate = "\\objupdate" nocase
    condition:
        uint32be(0) & 0xFFFFDFDF == 0x7B5C5254 and $objupdate
}

rule powershell_encoded_command
{
    meta:
        description = "PowerShell started with an encoded command: -EncodedCommand, or an abbreviation of it after powershell/pwsh (ASCII or UTF-16LE)"
        author = "stoq"
        reference = "https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/about_powershell_exe"
        severity = "low"
        mitre = "T1059.001, T1027.010"
    strings:
        $full = /[-\/]EncodedCommand\s+["']?[A-Za-z0-9+\/]{16,}/ nocase ascii wide
        $abbreviated = /(powershell|pwsh)(\.exe)?["']?(\s[^\r\n]{0,200})?\s[-\/](e|ec|en|enc|enco|encod|encode|encoded|encodedc|encodedco|encodedcom|encodedcomm|encodedcomma|encodedcomman)\s+["']?[A-Za-z0-9+\/]{16,}/ nocase ascii wide
    condition:
        $full or $abbreviated
}
