/** Names of ELF constants (System V gABI, LSB and binutils' readelf spellings). */

/** e_ident[EI_OSABI], spelled as readelf prints it. */
export const OS_ABI: Record<number, string> = {
  0: "UNIX - System V",
  1: "UNIX - HP-UX",
  2: "UNIX - NetBSD",
  3: "UNIX - GNU",
  6: "UNIX - Solaris",
  7: "UNIX - AIX",
  8: "UNIX - IRIX",
  9: "UNIX - FreeBSD",
  10: "UNIX - TRU64",
  11: "Novell - Modesto",
  12: "UNIX - OpenBSD",
  13: "VMS - OpenVMS",
  14: "HP - Non-Stop Kernel",
  15: "AROS",
  16: "FenixOS",
  17: "Nuxi CloudABI",
  18: "Stratus Technologies OpenVOS",
  97: "ARM",
  255: "Standalone App",
};

/** e_type. */
export const FILE_TYPE: Record<number, string> = {
  0: "NONE",
  1: "REL",
  2: "EXEC",
  3: "DYN",
  4: "CORE",
};

/** e_machine, short names (LIEF/Go style); the number is reported as well. */
export const MACHINE: Record<number, string> = {
  0: "none",
  2: "sparc",
  3: "i386",
  4: "m68k",
  8: "mips",
  20: "ppc",
  21: "ppc64",
  22: "s390",
  40: "arm",
  42: "sh",
  43: "sparcv9",
  50: "ia64",
  62: "x86_64",
  83: "avr",
  183: "aarch64",
  243: "riscv",
  247: "bpf",
  258: "loongarch",
};

/** p_type, spelled as readelf prints it. */
export const SEGMENT_TYPE: Record<number, string> = {
  0: "NULL",
  1: "LOAD",
  2: "DYNAMIC",
  3: "INTERP",
  4: "NOTE",
  5: "SHLIB",
  6: "PHDR",
  7: "TLS",
  0x6474e550: "GNU_EH_FRAME",
  0x6474e551: "GNU_STACK",
  0x6474e552: "GNU_RELRO",
  0x6474e553: "GNU_PROPERTY",
  0x6474e554: "GNU_SFRAME",
  0x65a3dbe6: "OPENBSD_RANDOMIZE",
  0x65a3dbe7: "OPENBSD_WXNEEDED",
};

/** sh_type, spelled as readelf prints it. */
export const SECTION_TYPE: Record<number, string> = {
  0: "NULL",
  1: "PROGBITS",
  2: "SYMTAB",
  3: "STRTAB",
  4: "RELA",
  5: "HASH",
  6: "DYNAMIC",
  7: "NOTE",
  8: "NOBITS",
  9: "REL",
  10: "SHLIB",
  11: "DYNSYM",
  14: "INIT_ARRAY",
  15: "FINI_ARRAY",
  16: "PREINIT_ARRAY",
  17: "GROUP",
  18: "SYMTAB SECTION INDICES",
  19: "RELR",
  0x6fff4c00: "LLVM_ODRTAB",
  0x6fff4c01: "LLVM_LINKER_OPTIONS",
  0x6fff4c03: "LLVM_ADDRSIG",
  0x6ffffff5: "GNU_ATTRIBUTES",
  0x6ffffff6: "GNU_HASH",
  0x6ffffff7: "GNU_LIBLIST",
  0x6ffffffd: "VERDEF",
  0x6ffffffe: "VERNEED",
  0x6fffffff: "VERSYM",
  0x70000001: "X86_64_UNWIND",
  0x70000003: "ARM_ATTRIBUTES",
};

/** sh_flags bits and readelf's letters for them, in bit order (readelf prints them so). */
export const SECTION_FLAGS: [number, string][] = [
  [0x1, "W"],
  [0x2, "A"],
  [0x4, "X"],
  [0x10, "M"],
  [0x20, "S"],
  [0x40, "I"],
  [0x80, "L"],
  [0x100, "O"],
  [0x200, "G"],
  [0x400, "T"],
  [0x800, "C"],
  [0x200000, "R"],
  [0x80000000, "E"],
];
