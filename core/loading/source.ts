/**
 * A plugin module's bytes as something `import()` can load from memory: a `data:` URL of
 * JavaScript. TypeScript (a URL ending in .ts/.mts) is transpiled with sucrase first, so the
 * runtime only ever imports JavaScript, in `deno run` and in a compiled binary alike.
 */

/** Whether a module at `url` is TypeScript (by its path's extension). */
export function isTypeScript(url: string): boolean {
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch { /* a plain path */ }
  return /\.(m?ts|tsx)$/i.test(path);
}

/** The module's text as JavaScript; a syntax error names the module and the line. */
export async function moduleJavaScript(bytes: Uint8Array, url: string): Promise<string> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${url} is not UTF-8 text, so it is not a JavaScript or TypeScript module`);
  }
  if (!isTypeScript(url)) return text;
  // Loaded only for TypeScript plugins: sucrase costs tens of milliseconds to load.
  const { transform } = await import("sucrase");
  try {
    return transform(text, {
      transforms: ["typescript"],
      disableESTransforms: true,
      filePath: url,
    }).code;
  } catch (e) {
    throw new Error(`${url} is not valid TypeScript: ${(e as Error).message}`);
  }
}

/** A `data:` URL that imports `js`. */
export function dataUrl(js: string): string {
  const bytes = new TextEncoder().encode(js);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `data:application/javascript;base64,${btoa(bin)}`;
}
