/** Bounds shared by `[core]` (config.ts) and the command line (cli/args.ts). */

/** Most scan threads a run may have: each loads its own plugins and rule sets. */
export const MAX_SCAN_THREADS = 256;
/** Most worker rounds a scan may run. */
export const MAX_RECURSION = 1000;
