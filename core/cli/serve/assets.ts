/**
 * The web page's files, embedded in the program as text (a compiled binary and the bundle carry
 * them; no file is read at run time and nothing comes from a CDN). Served by exact path only.
 */
import indexHtml from "./assets/index.html" with { type: "text" };
import appJs from "./assets/app.js" with { type: "text" };
import styleCss from "./assets/style.css" with { type: "text" };

/** URL path → body and content type. */
export const ASSETS: Readonly<Record<string, { body: string; type: string }>> = Object.freeze({
  "/": { body: indexHtml, type: "text/html; charset=utf-8" },
  "/index.html": { body: indexHtml, type: "text/html; charset=utf-8" },
  "/assets/app.js": { body: appJs, type: "text/javascript; charset=utf-8" },
  "/assets/style.css": { body: styleCss, type: "text/css; charset=utf-8" },
});
