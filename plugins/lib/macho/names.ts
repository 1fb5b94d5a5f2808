/** Names of Mach-O constants, as Apple's <mach-o/loader.h> and <mach/machine.h> spell them. */

/** cputype, as lipo names architectures. */
export const CPU_TYPE: Record<number, string> = {
  1: "vax",
  6: "mc680x0",
  7: "i386",
  0x01000007: "x86_64",
  10: "mc98000",
  11: "hppa",
  12: "arm",
  0x0100000c: "arm64",
  0x0200000c: "arm64_32",
  13: "mc88000",
  14: "sparc",
  15: "i860",
  18: "ppc",
  0x01000012: "ppc64",
};

/** The architecture name lipo gives a (cputype, cpusubtype) pair. */
export function archName(cputype: number, cpusubtype: number): string {
  const sub = cpusubtype & 0x00ffffff;
  if (cputype === 0x01000007 && sub === 8) return "x86_64h";
  if (cputype === 0x0100000c && sub === 2) return "arm64e";
  if (cputype === 12) {
    const arm: Record<number, string> = {
      5: "armv4t",
      6: "armv6",
      7: "armv5",
      9: "armv7",
      10: "armv7f",
      11: "armv7s",
      12: "armv7k",
      14: "armv6m",
      15: "armv7m",
      16: "armv7em",
    };
    if (arm[sub]) return arm[sub];
  }
  return CPU_TYPE[cputype] ?? `cputype_${cputype}`;
}

/** filetype. */
export const FILE_TYPE: Record<number, string> = {
  1: "MH_OBJECT",
  2: "MH_EXECUTE",
  3: "MH_FVMLIB",
  4: "MH_CORE",
  5: "MH_PRELOAD",
  6: "MH_DYLIB",
  7: "MH_DYLINKER",
  8: "MH_BUNDLE",
  9: "MH_DYLIB_STUB",
  10: "MH_DSYM",
  11: "MH_KEXT_BUNDLE",
  12: "MH_FILESET",
};

/** Header flag bits, without their MH_ prefix (as llvm-objdump prints them). */
export const HEADER_FLAGS: [number, string][] = [
  [0x1, "NOUNDEFS"],
  [0x2, "INCRLINK"],
  [0x4, "DYLDLINK"],
  [0x8, "BINDATLOAD"],
  [0x10, "PREBOUND"],
  [0x20, "SPLIT_SEGS"],
  [0x40, "LAZY_INIT"],
  [0x80, "TWOLEVEL"],
  [0x100, "FORCE_FLAT"],
  [0x200, "NOMULTIDEFS"],
  [0x400, "NOFIXPREBINDING"],
  [0x800, "PREBINDABLE"],
  [0x1000, "ALLMODSBOUND"],
  [0x2000, "SUBSECTIONS_VIA_SYMBOLS"],
  [0x4000, "CANONICAL"],
  [0x8000, "WEAK_DEFINES"],
  [0x10000, "BINDS_TO_WEAK"],
  [0x20000, "ALLOW_STACK_EXECUTION"],
  [0x40000, "ROOT_SAFE"],
  [0x80000, "SETUID_SAFE"],
  [0x100000, "NO_REEXPORTED_DYLIBS"],
  [0x200000, "PIE"],
  [0x400000, "DEAD_STRIPPABLE_DYLIB"],
  [0x800000, "HAS_TLV_DESCRIPTORS"],
  [0x1000000, "NO_HEAP_EXECUTION"],
  [0x2000000, "APP_EXTENSION_SAFE"],
  [0x4000000, "NLIST_OUTOFSYNC_WITH_DYLDINFO"],
  [0x8000000, "SIM_SUPPORT"],
  [0x80000000, "DYLIB_IN_CACHE"],
];

const REQ_DYLD = 0x80000000;
/** Load command numbers. */
export const LOAD_COMMAND: Record<number, string> = {
  0x1: "LC_SEGMENT",
  0x2: "LC_SYMTAB",
  0x3: "LC_SYMSEG",
  0x4: "LC_THREAD",
  0x5: "LC_UNIXTHREAD",
  0x6: "LC_LOADFVMLIB",
  0x7: "LC_IDFVMLIB",
  0x8: "LC_IDENT",
  0x9: "LC_FVMFILE",
  0xa: "LC_PREPAGE",
  0xb: "LC_DYSYMTAB",
  0xc: "LC_LOAD_DYLIB",
  0xd: "LC_ID_DYLIB",
  0xe: "LC_LOAD_DYLINKER",
  0xf: "LC_ID_DYLINKER",
  0x10: "LC_PREBOUND_DYLIB",
  0x11: "LC_ROUTINES",
  0x12: "LC_SUB_FRAMEWORK",
  0x13: "LC_SUB_UMBRELLA",
  0x14: "LC_SUB_CLIENT",
  0x15: "LC_SUB_LIBRARY",
  0x16: "LC_TWOLEVEL_HINTS",
  0x17: "LC_PREBIND_CKSUM",
  [0x18 + REQ_DYLD]: "LC_LOAD_WEAK_DYLIB",
  0x19: "LC_SEGMENT_64",
  0x1a: "LC_ROUTINES_64",
  0x1b: "LC_UUID",
  [0x1c + REQ_DYLD]: "LC_RPATH",
  0x1d: "LC_CODE_SIGNATURE",
  0x1e: "LC_SEGMENT_SPLIT_INFO",
  [0x1f + REQ_DYLD]: "LC_REEXPORT_DYLIB",
  0x20: "LC_LAZY_LOAD_DYLIB",
  0x21: "LC_ENCRYPTION_INFO",
  0x22: "LC_DYLD_INFO",
  [0x22 + REQ_DYLD]: "LC_DYLD_INFO_ONLY",
  [0x23 + REQ_DYLD]: "LC_LOAD_UPWARD_DYLIB",
  0x24: "LC_VERSION_MIN_MACOSX",
  0x25: "LC_VERSION_MIN_IPHONEOS",
  0x26: "LC_FUNCTION_STARTS",
  0x27: "LC_DYLD_ENVIRONMENT",
  [0x28 + REQ_DYLD]: "LC_MAIN",
  0x29: "LC_DATA_IN_CODE",
  0x2a: "LC_SOURCE_VERSION",
  0x2b: "LC_DYLIB_CODE_SIGN_DRS",
  0x2c: "LC_ENCRYPTION_INFO_64",
  0x2d: "LC_LINKER_OPTION",
  0x2e: "LC_LINKER_OPTIMIZATION_HINT",
  0x2f: "LC_VERSION_MIN_TVOS",
  0x30: "LC_VERSION_MIN_WATCHOS",
  0x31: "LC_NOTE",
  0x32: "LC_BUILD_VERSION",
  [0x33 + REQ_DYLD]: "LC_DYLD_EXPORTS_TRIE",
  [0x34 + REQ_DYLD]: "LC_DYLD_CHAINED_FIXUPS",
  [0x35 + REQ_DYLD]: "LC_FILESET_ENTRY",
  0x36: "LC_ATOM_INFO",
};

/** Section types (flags & 0xff), without the S_ prefix. */
export const SECTION_TYPE: Record<number, string> = {
  0: "REGULAR",
  1: "ZEROFILL",
  2: "CSTRING_LITERALS",
  3: "4BYTE_LITERALS",
  4: "8BYTE_LITERALS",
  5: "LITERAL_POINTERS",
  6: "NON_LAZY_SYMBOL_POINTERS",
  7: "LAZY_SYMBOL_POINTERS",
  8: "SYMBOL_STUBS",
  9: "MOD_INIT_FUNC_POINTERS",
  10: "MOD_TERM_FUNC_POINTERS",
  11: "COALESCED",
  12: "GB_ZEROFILL",
  13: "INTERPOSING",
  14: "16BYTE_LITERALS",
  15: "DTRACE_DOF",
  16: "LAZY_DYLIB_SYMBOL_POINTERS",
  17: "THREAD_LOCAL_REGULAR",
  18: "THREAD_LOCAL_ZEROFILL",
  19: "THREAD_LOCAL_VARIABLES",
  20: "THREAD_LOCAL_VARIABLE_POINTERS",
  21: "THREAD_LOCAL_INIT_FUNCTION_POINTERS",
  22: "INIT_FUNC_OFFSETS",
};

/** LC_BUILD_VERSION platforms. */
export const PLATFORM: Record<number, string> = {
  1: "macos",
  2: "ios",
  3: "tvos",
  4: "watchos",
  5: "bridgeos",
  6: "maccatalyst",
  7: "iossimulator",
  8: "tvossimulator",
  9: "watchossimulator",
  10: "driverkit",
  11: "visionos",
  12: "visionossimulator",
};

/** LC_BUILD_VERSION tools. */
export const TOOL: Record<number, string> = { 1: "clang", 2: "swift", 3: "ld", 4: "lld" };
