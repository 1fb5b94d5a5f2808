/*
   stoq file typing ("flavors"), part 2 of 2: the rules that need the whole payload. Each rule's
   identifier is the flavor it gives a payload; the other part, typing_head.yar, holds the rules
   that decide from the first 256 KiB (see its header).

   These are scanned over the whole payload: a member name anywhere in a ZIP (ooxml_file,
   jar_file), a directory entry anywhere in an OLE2 file (msg_file) or the directory sector its
   header points at (msi_file), a trailer at the end (dmg_file, vhd_file) and a length field
   checked against the file's size (swf_file). ooxml_file and jar_file specialise zip_file, and
   msi_file and msg_file olecf_file (typing_head.yar gives those), so a payload keeps both flavors.
*/

rule msi_file
{
    meta:
        description = "Windows Installer package or patch (.msi, .msp): an OLE2 file whose root storage has the Installer CLSID {000C1084…} or {000C1086…}"
        mime = "application/x-msi"
    condition:
        uint32be(0) == 0xD0CF11E0 and uint32be(4) == 0xA1B11AE1 and
        (uint32be(((uint32(48) + 1) << uint16(30)) + 0x50) == 0x84100C00 or
         uint32be(((uint32(48) + 1) << uint16(30)) + 0x50) == 0x86100C00) and
        uint32be(((uint32(48) + 1) << uint16(30)) + 0x58) == 0xC0000000 and
        uint32be(((uint32(48) + 1) << uint16(30)) + 0x5C) == 0x00000046
}

rule msg_file
{
    meta:
        description = "Outlook item (.msg, [MS-OXMSG]): an OLE2 compound file holding __substg1.0_ property streams and a __properties_version1.0 stream"
        mime = "application/vnd.ms-outlook"
    strings:
        // Directory entry names are UTF-16LE; other OLE formats do not use these names.
        $substg = "__substg1.0_" wide
        $properties = "__properties_version1.0" wide
    condition:
        uint32be(0) == 0xD0CF11E0 and uint32be(4) == 0xA1B11AE1 and $substg and $properties
}

rule ooxml_file
{
    meta:
        description = "Office Open XML document (.docx/.xlsx/.pptx and their macro variants): a ZIP with [Content_Types].xml"
        mime = "application/vnd.openxmlformats-officedocument"
    strings:
        // Member names are stored uncompressed in the local and central directory headers.
        $content_types = "[Content_Types].xml"
    condition:
        uint32(0) == 0x04034B50 and $content_types
}

rule jar_file
{
    meta:
        description = "Java archive: a ZIP with META-INF/MANIFEST.MF or .class members (APKs too)"
        mime = "application/java-archive"
    strings:
        $manifest = "META-INF/MANIFEST.MF"
        // A member name ending in .class (names are stored uncompressed).
        $class = /[A-Za-z0-9_$]\.class/
    condition:
        uint32(0) == 0x04034B50 and ($manifest or $class)
}

rule dmg_file
{
    meta:
        description = "Apple disk image (UDIF): the koly trailer, version 4, in the last 512 bytes"
        mime = "application/x-apple-diskimage"
    condition:
        filesize >= 512 and uint32be(filesize - 512) == 0x6B6F6C79 and
        uint32be(filesize - 508) == 4 and uint32be(filesize - 504) == 512
}

rule vhd_file
{
    meta:
        description = "Virtual Hard Disk: the conectix footer at the end (fixed) or its copy at 0 (dynamic)"
        mime = "application/x-vhd"
    condition:
        (uint32be(0) == 0x636F6E65 and uint32be(4) == 0x63746978) or
        (filesize >= 512 and uint32be(filesize - 512) == 0x636F6E65 and uint32be(filesize - 508) == 0x63746978)
}

rule swf_file
{
    meta:
        description = "Adobe Flash SWF: uncompressed (FWS), zlib (CWS) or LZMA (ZWS)"
        mime = "application/x-shockwave-flash"
    condition:
        uint8(3) > 0 and uint8(3) < 64 and
        (
            // FWS: the length field is the file's length (some writers append junk after it).
            (uint16be(0) == 0x4657 and uint8(2) == 0x53 and uint32(4) >= 21 and uint32(4) <= filesize) or
            // CWS: a zlib stream (deflate, window <= 32K, valid header check) follows.
            (uint16be(0) == 0x4357 and uint8(2) == 0x53 and uint8(8) & 0x0F == 8 and uint8(8) >> 4 <= 7 and
             uint16be(8) % 31 == 0) or
            // ZWS: compressed length then LZMA properties (lc/lp/pb byte < 225).
            (uint16be(0) == 0x5A57 and uint8(2) == 0x53 and uint8(12) < 225)
        )
}
