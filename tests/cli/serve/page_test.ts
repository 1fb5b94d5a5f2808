/**
 * The web page of `stoq serve` in a real headless Chromium (Debian's, driven by playwright-core):
 * upload real files, see their verdict, findings and payload tree, fold out a plugin's output,
 * list and search the stored scans; nothing is fetched from anywhere but the server, no script
 * error, no CSP violation. Screenshots go to test-artefacts/.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { sha256 } from "../../helpers.ts";
import { realFiles } from "../../realfiles.ts";
import { startServe } from "./server.ts";

// What the functions run in the page (waitForFunction) see; this file is not type-checked as DOM.
declare const document: {
  querySelector(sel: string): { textContent: string | null } | null;
  querySelectorAll(sel: string): { length: number };
};

const SAMPLE = new URL("../../data/sample.tar.gz", import.meta.url).pathname;
const ARTEFACTS = new URL("../../../test-artefacts/", import.meta.url).pathname;
const CHROMIUM = "/usr/bin/chromium";
const TOKEN = "page-test-token-0123456789";

async function launch(): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `${CHROMIUM} is missing: install the Debian packages chromium and chromium-driver (scripts/test does)`,
    );
  }
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A page that records what it fetched and every console error. */
async function open(browser: Browser, url: string) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const requests: string[] = [];
  const problems: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(e.message));
  await page.goto(url);
  return { page, requests, problems };
}

async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  await Deno.mkdir(ARTEFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTEFACTS}${name}.png`, fullPage });
}

async function rowNames(page: Page): Promise<string[]> {
  return (await page.locator("#scans tbody tr td:nth-child(2)").allTextContents()).sort();
}

/** Searches with the header form and waits for the list to show what it found. */
async function search(page: Page, field: string, q: string, verdict = ""): Promise<string[]> {
  await page.selectOption("#q-field", field);
  await page.fill("#q", q);
  await page.selectOption("#q-verdict", verdict);
  await page.click("#search button");
  await page.waitForFunction(() =>
    document.querySelector("#list-title")?.textContent === "Search results"
  );
  await page.waitForFunction(
    (note) => document.querySelector("#list-note")?.textContent === note,
    [...new URLSearchParams({ ...(q ? { [field]: q } : {}), ...(verdict ? { verdict } : {}) })]
      .map(([k, v]) => `${k} = ${v}`).join(", "),
  );
  await page.waitForFunction(() =>
    !document.querySelector("#scans tbody")?.textContent?.includes("…")
  );
  return rowNames(page);
}

Deno.test({
  name: "page: upload real files, see tree, findings and verdict, then list and search them",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const real = await realFiles();
    const served = await startServe();
    const browser = await launch();
    try {
      const { page, requests, problems } = await open(browser, served.url);
      await page.waitForFunction(() =>
        document.querySelector("#scans tbody")?.textContent === "no scans"
      );
      match(await page.textContent("#version") ?? "", /^stoq \S+ · \d+ scan threads$/);

      // A macro workbook: picked with the file input, scanned, shown.
      await page.setInputFiles("#file", real["macro.xls"]);
      await page.waitForURL(/#\/scan\//);
      await page.waitForSelector("#result h1 .verdict");
      equal(await page.textContent("#result h1 .verdict"), "suspicious");
      match(await page.textContent("#result h1 .score") ?? "", /^score \d+$/);
      const why = await page.locator(".why table.top tbody tr").allTextContents();
      ok(
        why.some((t) => t.includes("vba:autoexec_macro") && t.includes("macro.xls")),
        why.join("\n"),
      );
      const names = await page.locator("ul.tree .name").allTextContents();
      equal(names[0], "macro.xls");
      ok(names.includes("Module1.bas") && names.includes("_VBA_PROJECT"), names.join(","));
      // Each plugin's output, folded; open the vba one.
      const vba = page.locator("li[data-payload] > details.payload").first()
        .locator("details.plugin", { has: page.locator("summary", { hasText: /^vba$/ }) });
      await vba.locator("summary").click();
      match(await vba.locator("pre").textContent() ?? "", /"autoexec_macro"/);
      // The raw JSON is the stored document.
      await page.click("details.raw > summary");
      const raw = JSON.parse(await page.textContent("details.raw pre") ?? "");
      equal(raw.results[0].workers.hash.sha256, sha256(await Deno.readFile(real["macro.xls"])));
      await shot(page, "serve-result-macro");

      // A phishing message with the macro workbook attached: malicious, for reasons in the
      // message (email) and in its attachment (vba), each with its path.
      const { viewFiles } = await import("../../fixtures/view_files.ts");
      await page.goto(served.url);
      await page.setInputFiles("#file", (await viewFiles())["phish.eml"]);
      await page.waitForURL(/#\/scan\//);
      await page.waitForSelector("#result h1 .verdict");
      equal(await page.textContent("#result h1 .verdict"), "malicious");
      const reasons = await page.locator(".why table.top tbody tr").allTextContents();
      ok(reasons.some((t) => t.includes("email:") && t.includes("phish.eml")), reasons.join("\n"));
      ok(
        reasons.some((t) =>
          t.includes("vba:autoexec_macro") && t.includes("phish.eml › invoice.xls")
        ),
        reasons.join("\n"),
      );
      await shot(page, "serve-result-phish", false);

      // The bundled sample: seven payloads in the tree.
      await page.goto(served.url);
      await page.setInputFiles("#file", SAMPLE);
      await page.waitForURL(/#\/scan\//);
      await page.waitForSelector("#result h1 .verdict");
      equal(await page.textContent("#result h1 .verdict"), "clean");
      equal(await page.locator("li[data-payload]").count(), 7);
      deepEqual(
        (await page.locator("ul.tree .name").allTextContents()).sort(),
        [
          "nested.zip",
          "notes.txt",
          "readme.txt",
          "report.zip",
          "sample.tar",
          "sample.tar.gz",
          "tool.bin",
        ],
      );
      // tool.bin hangs under nested.zip, under report.zip, under sample.tar.
      const nestedUnder = await page.locator("li[data-payload]", { hasText: "nested.zip" }).last()
        .locator("ul.tree .name").allTextContents();
      deepEqual(nestedUnder.sort(), ["notes.txt", "tool.bin"]);
      await shot(page, "serve-result-sample");

      // Two files at once stay on the list page, each with its verdict.
      await page.click("a[href='#/']");
      await page.setInputFiles("#file", [real["eicar.com"], real["report.pdf"]]);
      await page.waitForFunction(() =>
        document.querySelectorAll("#uploads li .verdict").length >= 2
      );
      const uploads = await page.locator("#uploads li").allTextContents();
      ok(
        uploads.some((t) => t.includes("eicar.com") && t.includes("malicious")),
        uploads.join("|"),
      );
      await page.waitForFunction(() =>
        document.querySelectorAll("#scans tbody tr[data-scan]").length === 5
      );
      deepEqual(await rowNames(page), [
        "eicar.com",
        "macro.xls",
        "phish.eml",
        "report.pdf",
        "sample.tar.gz",
      ]);
      await shot(page, "serve-list");

      // Search by sha256, filename glob, rule and verdict.
      const xlsSha = sha256(await Deno.readFile(real["macro.xls"]));
      // The workbook is a file of its own and the attachment of the message.
      deepEqual(await search(page, "hash", xlsSha), ["macro.xls", "phish.eml"]);
      deepEqual(await search(page, "filename", "*.gz"), ["sample.tar.gz"]);
      deepEqual(await search(page, "filename", "notes.txt"), ["sample.tar.gz"]);
      deepEqual(await search(page, "rule", "eicar_test_file"), ["eicar.com"]);
      deepEqual(await search(page, "hash", "", "malicious"), ["eicar.com", "phish.eml"]);
      deepEqual(await search(page, "filename", "invoice.xls"), ["phish.eml"]);
      deepEqual(await search(page, "hash", "", "clean"), ["report.pdf", "sample.tar.gz"]);
      deepEqual(await search(page, "filename", "*.xls", "clean"), []);
      deepEqual(await search(page, "hash", "", "suspicious"), ["macro.xls"]);
      await shot(page, "serve-search");
      await page.click("#scans tbody a");
      await page.waitForSelector("#result h1 .verdict");
      match(await page.textContent("#result h1") ?? "", /^macro\.xls suspicious/);

      // Nothing came from anywhere but the server; no script error or CSP violation.
      const elsewhere = requests.filter((u) => !u.startsWith(served.url) && !u.startsWith("data:"));
      deepEqual(elsewhere, []);
      deepEqual(problems, []);
    } finally {
      await browser.close();
      await served.stop();
    }
  },
});

Deno.test({
  name: "page: a server with a token asks for it once, then works",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const served = await startServe(["--token", TOKEN]);
    const browser = await launch();
    try {
      const { page, problems } = await open(browser, served.url);
      await page.waitForSelector("#auth:not([hidden])");
      await page.fill("#token", TOKEN);
      await page.click("#auth-form button");
      await page.waitForSelector("#auth", { state: "hidden" });
      await page.waitForFunction(() =>
        document.querySelector("#scans tbody")?.textContent === "no scans"
      );
      const real = await realFiles();
      await page.setInputFiles("#file", real["eicar.com"]);
      await page.waitForSelector("#result h1 .verdict");
      equal(await page.textContent("#result h1 .verdict"), "malicious");
      await shot(page, "serve-token");
      // The 401 before the token was given is the only error the console saw.
      deepEqual(problems.filter((p) => !/401/.test(p)), []);
    } finally {
      await browser.close();
      await served.stop();
    }
  },
});
