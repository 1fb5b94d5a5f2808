/**
 * A typed facade over YARA-X's Node binding (`@litko/yara-x-<platform>` 0.7.2, YARA-X 1.20).
 * The platform package is loaded directly: its `@litko/yara-x` wrapper stopped at 0.3.0, which
 * lacks what stoq needs here (serialize/deserialize, scan timeouts, tolerant compiles).
 * Native code ignores Deno's permissions: give it bytes and source text, never paths.
 */
import { createRequire } from "node:module";

/** The binding version; compiled rules are only valid for the version that made them. */
export const YARAX_BINDING = "0.7.2";

/** One matched string of a rule, as the binding reports it. */
export interface YaraxStringMatch {
  offset: number;
  length: number;
  identifier: string;
}

/** One matching rule, as the binding reports it. */
export interface YaraxMatch {
  ruleIdentifier: string;
  namespace: string;
  meta: Record<string, unknown>;
  tags: string[];
  matches: YaraxStringMatch[];
}

/** A compiler error or warning: a code and YARA-X's full message (with its source snippet). */
export interface YaraxDiagnostic {
  code: string;
  message: string;
}

/** Values of external variables (YARA's `-d name=value`). */
export type ExternalValues = Record<string, string | number | boolean>;

/** Compiled rules. */
export interface YaraxRules {
  scan(data: Uint8Array, variables?: ExternalValues): YaraxMatch[];
  /** Scans on a native thread: the JavaScript thread stays free meanwhile. */
  scanAsync(data: Uint8Array, variables?: ExternalValues): Promise<YaraxMatch[]>;
  /** Seconds are what YARA-X counts: the value is rounded up to whole seconds. */
  setTimeout(ms: number): void;
  setMaxMatchesPerPattern(n: number): void;
  serialize(): Uint8Array;
  getWarnings(): YaraxDiagnostic[];
  getCompilationErrors(): YaraxDiagnostic[];
  getIgnoredRules(): { name: string; reason: string; detail?: string }[];
  addRuleSources(sources: { source: string; namespace?: string }[]): void;
}

/** Compiler options of the binding that stoq uses. */
export interface CompileOptions {
  defineVariables?: ExternalValues;
  ignoreInvalidRules?: boolean;
  enableIncludes?: boolean;
}

/** The binding's module. */
export interface YaraxModule {
  compile(source: string, options?: CompileOptions): YaraxRules;
  validate(
    source: string,
    options?: CompileOptions,
  ): { warnings: YaraxDiagnostic[]; errors: YaraxDiagnostic[] };
  deserialize(bytes: Uint8Array): YaraxRules;
}

/** The name of the platform package for this machine, as napi-rs names them. */
export function platformPackage(): string {
  const { os, arch } = Deno.build;
  const cpu = arch === "aarch64" ? "arm64" : "x64";
  const tag = os === "linux"
    ? `linux-${cpu}-gnu`
    : os === "darwin"
    ? `darwin-${cpu}`
    : os === "windows"
    ? `win32-${cpu}-msvc`
    : `${os}-${cpu}`;
  return `@litko/yara-x-${tag}`;
}

let loaded: YaraxModule | undefined;

/** Loads the binding once per thread; a missing platform package is one clear error. */
export function yarax(): YaraxModule {
  if (loaded) return loaded;
  const name = platformPackage();
  try {
    loaded = createRequire(import.meta.url)(name) as YaraxModule;
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new Error(
      `YARA-X is not installed for this platform (${why}); install it with: ` +
        `npm install --no-save ${name}@${YARAX_BINDING}`,
    );
  }
  return loaded;
}
