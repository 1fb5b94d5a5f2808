/*
   stoq dispatch rules, in stoQ v3's format: a matching rule sends the payload to the workers in
   meta.plugin (a comma list); meta.save = "false" asks that the payload not be archived.

   XOR keys: YARA reports where an xor() string matched but not the key. For each meta entry
   xor_plaintext_for_string_<id> = "<plaintext>", the dispatcher XORs the bytes matched by $<id>
   with the plaintext, and the shortest period of the result is the key (stoQ's yarascan does the
   same), which it hands to xordecode as meta xorkey.
*/

import "math"

rule xor_pe
{
    meta:
        description = "PE whose DOS stub text is XOR-encoded with a one-byte key (1-255); key 0, the plain PE, does not match"
        author = "stoq"
        reference = "https://github.com/PUNCH-Cyber/stoq-plugins-public/blob/master/yara/yarascan/rules/dispatcher.yar"
        plugin = "xordecode"
        save = "false"
        xor_plaintext_for_string_dos = "This program cannot be run in DOS mode"
    strings:
        $dos = "This program cannot be run in DOS mode" xor(1-255)
    condition:
        $dos
}

rule b64_pe
{
    meta:
        description = "Base64 text that starts with a standard PE header (MZ 90 00 03 00 00 00 04 00 00 00)"
        author = "stoq"
        reference = "https://learn.microsoft.com/en-us/windows/win32/debug/pe-format"
        plugin = "b64decode"
        save = "false"
    strings:
        $mz = "TVqQAAMAAAAEAAAA"
    condition:
        $mz at 0
}

rule upx_packed
{
    meta:
        description = "UPX-packed PE or ELF: a section named UPX0/UPX1 in a PE's section table, or UPX's pack header (UPX!) in the first 4 KiB"
        author = "stoq"
        reference = "https://github.com/upx/upx"
        plugin = "upx"
    strings:
        $upx0 = { 55 50 58 30 00 00 00 00 }
        $upx1 = { 55 50 58 31 00 00 00 00 }
        $magic = "UPX!"
    condition:
        (uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550 and
         ($upx0 in (0..4096) or $upx1 in (0..4096) or $magic in (0..4096))) or
        (uint32(0) == 0x464C457F and $magic in (0..4096))
}

rule carve_pe
{
    meta:
        description = "A PE image after offset 0 (same test as stoq.yar's embedded_pe): pecarve validates, trims and extracts it"
        author = "stoq"
        reference = "https://learn.microsoft.com/en-us/windows/win32/debug/pe-format"
        plugin = "pecarve"
    strings:
        $mz = "MZ"
    condition:
        #mz > 0 and
        for any i in (1..math.min(#mz, 100000)) : (
            @mz[i] > 0 and
            uint32(@mz[i] + 0x3C) >= 4 and uint32(@mz[i] + 0x3C) < 0x10000000 and
            uint32(@mz[i] + uint32(@mz[i] + 0x3C)) == 0x00004550
        )
}
