// stoq's web page: upload files, list and search stored scans, show a result. Plain DOM code,
// no framework; everything a result holds is put in the page as text (textContent), never HTML.

const $ = (sel) => document.querySelector(sel);
const RANK = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };
const TOKEN_KEY = "stoq-token";

/** Makes an element: h("a", { href: "#/" }, "text", child...). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function humanSize(n) {
  if (typeof n !== "number") return "";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso ?? "") : d.toLocaleString();
}

function badge(verdict, score) {
  const v = verdict ?? "none";
  return h(
    "span",
    {
      class: `verdict v-${v}`,
      title: score === null || score === undefined ? "" : `score ${score}`,
    },
    v,
  );
}

/** fetch() with the token, if one is kept; a 401 shows the token form. */
async function api(path, init = {}) {
  const headers = new Headers(init.headers ?? {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.set("authorization", `Bearer ${token}`);
  const res = await fetch(path, { ...init, headers });
  if (res.status === 401) {
    $("#auth").hidden = false;
    throw new Error("this server asks for a token");
  }
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = { error: text };
  }
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return body;
}

// ---- the list of scans (recent, or a search) ----

function scanRow(s) {
  const link = `#/scan/${encodeURIComponent(s.scan_id)}`;
  return h(
    "tr",
    { "data-scan": s.scan_id },
    h("td", {}, when(s.time)),
    h("td", {}, h("a", { href: link }, s.filename ?? "(no name)")),
    h("td", {}, badge(s.verdict, s.score)),
    h("td", { class: "num" }, s.score ?? ""),
    h("td", {}, s.mimetype ?? ""),
    h("td", { class: "num" }, humanSize(s.size)),
    h("td", { class: "num" }, s.payloads),
    h("td", { class: "mono", title: s.sha256 ?? "" }, (s.sha256 ?? "").slice(0, 16)),
  );
}

// Each list request gets a number, so that an answer that comes after a newer request's is dropped.
let listRequests = 0;

async function showList(params) {
  const request = ++listRequests;
  const query = new URLSearchParams(params);
  const searching = [...query.keys()].some((k) => k !== "limit");
  $("#list-title").textContent = searching ? "Search results" : "Recent scans";
  const note = $("#list-note");
  note.textContent = searching ? [...query].map(([k, v]) => `${k} = ${v}`).join(", ") : "";
  const body = $("#scans tbody");
  // The rows of the previous list must not pass for this one's while it loads.
  body.replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "searching…")));
  try {
    const found = await api(`/api/v1/search?${query}`);
    if (request !== listRequests) return;
    body.replaceChildren(...found.scans.map(scanRow));
    if (!found.scans.length) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "no scans")));
    }
  } catch (e) {
    if (request !== listRequests) return;
    body.replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "error" }, e.message)));
  }
}

// ---- uploads ----

async function uploadOne(file, item) {
  const status = h("span", { class: "muted" }, "scanning…");
  item.replaceChildren(h("strong", {}, file.name), " ", humanSize(file.size), " ", status);
  try {
    const doc = await api(`/api/v1/scan?filename=${encodeURIComponent(file.name)}`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: file,
    });
    const v = doc.decorators?.verdict;
    status.replaceWith(
      badge(v?.verdict, v?.score),
      " ",
      h("a", { href: `#/scan/${encodeURIComponent(doc.scan_id)}` }, "show result"),
    );
    return doc;
  } catch (e) {
    status.replaceWith(h("span", { class: "error" }, e.message));
    return undefined;
  }
}

async function uploadAll(files) {
  const list = $("#uploads");
  const jobs = [...files].map((f) => {
    const item = h("li");
    list.prepend(item);
    return uploadOne(f, item);
  });
  const docs = await Promise.all(jobs);
  await showList({ limit: 50 });
  const done = docs.filter(Boolean);
  if (files.length === 1 && done.length === 1) {
    location.hash = `#/scan/${encodeURIComponent(done[0].scan_id)}`;
  }
}

// ---- one result ----

function findingsOf(p) {
  const out = [];
  for (const [plugin, r] of Object.entries(p.workers ?? {})) {
    if (!Array.isArray(r?.findings)) continue;
    for (const f of r.findings) {
      if (f && typeof f.id === "string" && f.severity in RANK) out.push({ plugin, ...f });
    }
  }
  return out.sort((a, b) => RANK[a.severity] - RANK[b.severity]);
}

function findingLine(f) {
  return h(
    "li",
    { class: `finding s-${f.severity}` },
    h("span", { class: `sev s-${f.severity}` }, f.severity),
    " ",
    h("code", {}, `${f.plugin}:${f.id}`),
    " ",
    f.title,
    f.detail ? h("span", { class: "muted" }, ` — ${f.detail}`) : null,
    f.mitre?.length ? h("span", { class: "mitre" }, ` ${f.mitre.join(", ")}`) : null,
  );
}

function pre(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

/** The payload tree: each payload once, under the first payload it was extracted from. */
function payloadTree(doc) {
  const all = Array.isArray(doc.results) ? doc.results : [];
  const ids = new Set(all.map((p) => p.payload_id));
  const kids = new Map();
  const tops = [];
  for (const p of all) {
    const parent = (p.extracted_from ?? []).find((id) => ids.has(id) && id !== p.payload_id);
    if (parent === undefined) tops.push(p);
    else kids.set(parent, [...(kids.get(parent) ?? []), p]);
  }
  const errors = new Map();
  for (const e of doc.errors ?? []) {
    if (e?.payload_id) errors.set(e.payload_id, [...(errors.get(e.payload_id) ?? []), e]);
  }
  const placed = new Set();
  const node = (p, depth) => {
    placed.add(p.payload_id);
    const extra = p.payload_meta?.extra_data ?? {};
    const sha = p.workers?.hash?.sha256 ?? "";
    const findings = findingsOf(p);
    // Rules that are findings already are not listed again.
    const asFinding = new Set(findings.filter((f) => f.plugin === "yara").map((f) => f.id));
    const rules = (p.workers?.yara?.matches ?? []).map((m) => m?.rule)
      .filter((r) => typeof r === "string" && !asFinding.has(r.toLowerCase()));
    const head = h(
      "summary",
      {},
      h("span", { class: "name" }, extra.filename ?? "(no name)"),
      " ",
      h("span", { class: "type" }, p.workers?.mimetype?.mimetype ?? ""),
      " ",
      h("span", { class: "size" }, humanSize(p.size)),
      " ",
      h("span", { class: "mono muted", title: sha }, sha.slice(0, 12)),
      ...findings.slice(0, 6).map((f) =>
        h("span", { class: `chip s-${f.severity}`, title: f.title }, `${f.plugin}:${f.id}`)
      ),
    );
    const plugins = Object.entries(p.workers ?? {}).map(([name, out]) =>
      h("details", { class: "plugin" }, h("summary", {}, name), pre(out))
    );
    const body = h(
      "div",
      { class: "payload-body" },
      findings.length ? h("ul", { class: "findings" }, findings.map(findingLine)) : null,
      rules.length ? h("p", { class: "muted" }, `YARA: ${[...new Set(rules)].join(", ")}`) : null,
      (errors.get(p.payload_id) ?? []).map((e) =>
        h("p", { class: "error" }, `${e.plugin_name ?? "stoq"}: ${e.error}`)
      ),
      h("div", { class: "plugins" }, plugins),
      h("details", { class: "plugin" }, h("summary", {}, "payload_meta"), pre(p.payload_meta)),
    );
    const children = (kids.get(p.payload_id) ?? []).filter((k) => !placed.has(k.payload_id));
    return h(
      "li",
      { "data-payload": p.payload_id },
      h("details", { class: "payload", open: depth === 0 ? true : undefined }, head, body),
      children.length ? h("ul", { class: "tree" }, children.map((k) => node(k, depth + 1))) : null,
    );
  };
  const roots = [...tops, ...all].filter((p, i, a) => a.indexOf(p) === i);
  const items = [];
  for (const p of roots) if (!placed.has(p.payload_id)) items.push(node(p, 0));
  return h("ul", { class: "tree root" }, items);
}

async function showResult(id) {
  const section = $("#result");
  section.replaceChildren(h("p", { class: "muted" }, "loading…"));
  let doc;
  try {
    doc = await api(`/api/v1/results/${encodeURIComponent(id)}`);
  } catch (e) {
    section.replaceChildren(h("p", { class: "error" }, e.message));
    return;
  }
  const root = doc.results?.[0] ?? {};
  const name = root.payload_meta?.extra_data?.filename ?? "(no name)";
  const v = doc.decorators?.verdict;
  const top = v?.findings ?? [];
  const scanErrors = (doc.errors ?? []).filter((e) => !e?.payload_id);
  const parts = [
    h("p", {}, h("a", { href: "#/" }, "← all scans")),
    h(
      "h1",
      { class: "title" },
      name,
      " ",
      badge(v?.verdict, v?.score),
      v ? h("span", { class: "score" }, `score ${v.score}`) : null,
    ),
    h(
      "p",
      { class: "muted" },
      `scan ${doc.scan_id} · ${when(doc.time)} · ${(doc.results ?? []).length} payload(s) · ` +
        `${(doc.errors ?? []).length} error(s)`,
    ),
    v
      ? h(
        "section",
        { class: "panel why" },
        h("h2", {}, "Why"),
        h("p", {}, v.reason),
        top.length
          ? h(
            "table",
            { class: "top" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                h("th", {}, "Points"),
                h("th", {}, "Severity"),
                h("th", {}, "Finding"),
                h("th", {}, "Where"),
              ),
            ),
            h(
              "tbody",
              {},
              top.map((f) =>
                h(
                  "tr",
                  {},
                  h("td", { class: "num", title: f.why }, f.points),
                  h("td", {}, h("span", { class: `sev s-${f.severity}` }, f.severity)),
                  h(
                    "td",
                    {},
                    h("code", {}, `${f.plugin}:${f.id}`),
                    " ",
                    f.title,
                    h("div", { class: "muted" }, f.detail),
                    f.mitre?.length ? h("div", { class: "mitre" }, f.mitre.join(", ")) : null,
                  ),
                  h(
                    "td",
                    {},
                    f.path.join(" › "),
                    f.occurrences > 1
                      ? h("div", { class: "muted" }, `and ${f.occurrences - 1} more payload(s)`)
                      : null,
                  ),
                )
              ),
            ),
          )
          : null,
      )
      : h("p", { class: "muted" }, "No verdict: the verdict decorator did not run on this scan."),
    h("h2", {}, "Payloads"),
    payloadTree(doc),
    scanErrors.length
      ? h(
        "section",
        {},
        h("h2", {}, "Errors"),
        scanErrors.map((e) => h("p", { class: "error" }, `${e.plugin_name ?? "stoq"}: ${e.error}`)),
      )
      : null,
    h("details", { class: "raw" }, h("summary", {}, "Raw JSON"), pre(doc)),
  ];
  section.replaceChildren(...parts.filter(Boolean));
}

// ---- routing ----

async function route() {
  const hash = location.hash || "#/";
  const scan = /^#\/scan\/(.+)$/.exec(hash);
  $("#home").hidden = Boolean(scan);
  $("#result").hidden = !scan;
  if (scan) return await showResult(decodeURIComponent(scan[1]));
  const search = /^#\/search\?(.*)$/.exec(hash);
  await showList(search ? new URLSearchParams(search[1]) : { limit: 50 });
}

function start() {
  const drop = $("#drop");
  const input = $("#file");
  input.addEventListener("change", () => {
    if (input.files?.length) uploadAll(input.files).finally(() => (input.value = ""));
  });
  for (const ev of ["dragenter", "dragover"]) {
    drop.addEventListener(ev, (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const ev of ["dragleave", "drop"]) {
    drop.addEventListener(ev, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer?.files?.length) uploadAll(e.dataTransfer.files);
  });
  $("#search").addEventListener("submit", (e) => {
    e.preventDefault();
    const params = new URLSearchParams();
    const q = $("#q").value.trim();
    if (q) params.set($("#q-field").value, q);
    const verdict = $("#q-verdict").value;
    if (verdict) params.set("verdict", verdict);
    location.hash = params.size ? `#/search?${params}` : "#/";
  });
  $("#auth-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#auth").hidden = true;
    route();
  });
  addEventListener("hashchange", route);
  fetch("/api/v1/health").then((r) => r.json()).then((hlth) => {
    $("#version").textContent = `stoq ${hlth.version} · ${hlth.threads} scan threads`;
  }).catch(() => {});
  route();
}

start();
