/** Help text for every command. */
import { VERSION } from "../version.ts";
import type { Command } from "./args.ts";
import { PLUGIN_HELP } from "./plugin_help.ts";

const PIPELINE_FLAGS = `Pipeline (each list flag takes one or more plugin names, or a comma list):
  -s, --start-dispatch NAME...    workers for the initial payload only
  -a, --always-dispatch NAME...   workers for every payload, extracted ones included
  -R, --dispatchers NAME...       dispatchers that route payloads to workers
  -A, --dest-archivers NAME...    archivers that store payloads
  -S, --source-archivers NAME...  archivers that fetch payloads to scan (see below)
  -D, --decorators NAME...        decorators that see the whole result
  -C, --connectors NAME...        send results to these connectors instead of stdout
      --max-recursion N           worker rounds at most (default 10)
      --plugin-opts P:OPT=VAL...  plugin options, e.g. decompress:passwords=infected,secret
      --request-source TEXT       request_meta.source
      --request-extra KEY=VAL...  request_meta.extra_data
      --plugin-dir DIR            load plugins from DIR (repeatable; default $STOQ_HOME/plugins)
      --config PATH               config file (default $STOQ_HOME/stoq.toml, then ./stoq.toml)
      --threads N                 scan on N threads (default for several inputs: one per core)
      --metrics [HOST:]PORT       serve Prometheus metrics at /metrics (host 127.0.0.1 by default)
      --log-level LEVEL           debug, info, warning, error or critical (default info)
      --log-format text|json      log lines on stderr as text or JSON
  A flag given on the command line replaces the config file's list.`;

const TEXT: Record<Exclude<Command, "plugin_command">, string> = {
  help: `stoq ${VERSION} — an automated analysis framework (stoQ v3 in TypeScript)

Usage: stoq COMMAND [OPTIONS]

Commands:
  scan PATH...   scan files, folders (-r) or stdin (-) and print one result per input
  run -P NAME    run providers (e.g. filedir) and send results to connectors
  route explain FILE...
                 show a file's flavors and why each worker would run, without scanning
  list           list plugins with their classes, options and defaults
  config         print the configuration in use (--default: the built-in one)
  plugin         add, list, update, remove or check plugins published at a URL (pinned)
  search         find stored scans by hash, YARA rule, type, filename, verdict or time
  show           render a stored result (a file, a scan id in the store, or stdin) as a tree
  serve          an HTTP API and a web page to scan files and browse results (127.0.0.1:8080)
  deadletter     list the results connectors could not save, and replay them once they can

Options: --help on any command, --version.

Examples:
  stoq scan sample.doc
  stoq scan --format tree invoice.zip
  cat x.bin | stoq scan -
  stoq scan -r /cases/1234 -C filedir --plugin-opts filedir:results_dir=/cases/1234.results
  stoq run -P filedir --plugin-opts filedir:source_dir=/var/spool/zeek filedir:recursive=true -C filedir

Results go to stdout, logs to stderr. Exit status: 0 the scan ran (plugin errors are in the
result's "errors"), 1 a fatal error, 2 a usage error.`,
  scan: `Usage: stoq scan [OPTIONS] PATH...

Scans each file as its own request and prints one result document per input: indented JSON for one
input, one JSON object per line for several (in the order the scans finish). PATH may be a folder
(its files; with -r, recursively) or - for stdin.

  -r, --recursive                 descend into sub-folders
      --format json|jsonl|tree    json: indented documents; jsonl: one per line; tree: the
                                  payload tree with findings and verdict, coloured on a
                                  terminal (default: json for one input, jsonl for several)
      --progress / --no-progress  progress on stderr (default: on when stderr is a terminal)

${PIPELINE_FLAGS}

With -S ARCHIVER, each PATH is instead a reference the archiver's get() understands, e.g. a sha256
for filedir: stoq scan -S filedir 5cac4f98...

Examples:
  stoq scan invoice.zip
  stoq scan --format tree invoice.zip
  stoq scan -a hash -s decompress bundle.7z --plugin-opts decompress:passwords=infected
  cat payload.bin | stoq scan - --request-source sensor1 --request-extra case=1234
  stoq scan -r ./samples -C filedir --plugin-opts filedir:results_dir=./results
  stoq scan -A filedir sample.exe && stoq scan -S filedir <sha256>`,
  run: `Usage: stoq run -P PROVIDER... [OPTIONS]

Runs providers, which queue payloads, and scans them with [core] provider_consumers concurrent
scans until every provider is exhausted. Results go to the connectors (-C, or
[core] connectors; stdout when none is set). On SIGINT or SIGTERM it stops taking new payloads,
finishes what is queued and in flight, runs their connectors and exits; a second signal abandons
the queued ones (they are named in the log).

  -P, --providers NAME...         providers to run
      --format json|jsonl|tree    how results printed on stdout look (default jsonl)

${PIPELINE_FLAGS}

Examples:
  stoq run -P filedir --plugin-opts filedir:source_dir=./samples filedir:recursive=true
  stoq run -P filedir --plugin-opts filedir:source_dir=./in -C filedir \\
      --plugin-opts filedir:results_dir=./out`,
  explain: `Usage: stoq route explain [OPTIONS] FILE...   (short form: stoq explain)

Shows, without scanning, what each dispatcher of the pipeline sees in each file and why each
worker would or would not run: the always_dispatch workers, then for the route dispatcher the
file's flavors (its MIME type and the typing rules it matches) and every rule's verdict with the
reason, and for the yara dispatcher the dispatch rules that match. Only the first round is shown:
extracted payloads are routed anew when they are scanned.

      --json                      the same as JSON

${PIPELINE_FLAGS}

Examples:
  stoq route explain sample.doc
  stoq route explain --json invoice.pdf | jq '.dispatchers[0].explanation.facts.flavors'`,
  list: `Usage: stoq list [--json] [--plugin-dir DIR] [--config PATH]

Lists every plugin (built-in and from the plugin folders) with its classes, version, description,
options and defaults, and any plugin module that failed to load.

Examples:
  stoq list
  stoq list --json | jq '.plugins[] | select(.classes | index("worker")) | .name'`,
  config: `Usage: stoq config [--default] [--config PATH]

Prints the configuration file stoq would use (or, with --default, the built-in default pipeline,
a good start for $STOQ_HOME/stoq.toml).

Examples:
  mkdir -p ~/.stoq && stoq config --default > ~/.stoq/stoq.toml`,
  search: `Usage: stoq search [OPTIONS]

Finds scans in the sqlite result store (results get there with -C sqlite) and prints each stored
result as one JSON line, newest first. A scan matches when one of its payloads (the file or
anything extracted from it) matches; a flag given twice matches either value, different flags
must all match. Nothing found is not an error: "no scans match" goes to stderr, exit status 0.

      --sha256 HEX, --md5 HEX, --sha1 HEX
                                  payload hashes (from the hash worker)
      --hash HEX                  any of them, by length
      --rule NAME                 a YARA rule that matched (yara worker); * and ? are globs
      --type MIME-GLOB            the payload's MIME type (mimetype worker), e.g. 'application/x-*'
      --filename GLOB             the payload's filename, e.g. '*.exe' (case-insensitive)
      --verdict VERDICT           the verdict decorator's verdict: clean, suspicious,
                                  malicious or unknown
      --since TIME, --until TIME  scan time: ISO (2026-11-22, 2026-11-22T10:00:00Z) or an age
                                  (90s, 30m, 24h, 7d, 2w)
      --limit N                   at most N scans (default 100)
      --summary                   one tab-separated line per scan: time, scan id, payloads,
                                  errors, filename, sha256, rules, verdict(score)
      --db PATH                   the store's file (default: [sqlite] path, else $STOQ_HOME/stoq.sqlite)
      --store NAME                the result store plugin to ask (default sqlite)
      --config PATH, --log-level LEVEL, --log-format text|json

Examples:
  stoq scan -r ./samples -C sqlite
  stoq search --hash 44d88612fea8a8f36de82e1278abb02f
  stoq search --rule eicar_test_file --since 24h --summary
  stoq search --verdict malicious --verdict suspicious --since 7d --summary
  stoq search --type 'application/x-msdownload' --filename '*.exe' | jq .scan_id`,
  deadletter: `Usage: stoq deadletter list [--json] [--dir DIR]
       stoq deadletter replay [--connector NAME...] [--dir DIR]

A result that a connector could still not save after its retries ([core] connector_retries) is
kept whole in the dead-letter folder ([core] dead_letter_dir, default $STOQ_HOME/dead-letter), one
<scan_id>.json per scan, never dropped. \`list\` shows them; \`replay\` sends each again to the
connectors that failed (or to --connector NAME, repeatable or a comma list), removes the file
when every one saved it, and keeps the ones still failing for the next replay. The connector
errors recorded when the result was dead-lettered are removed from the replayed document.

      --dir DIR                   the dead-letter folder (default: [core] dead_letter_dir)
      --connector NAME            replay to this connector instead of the ones that failed
      --json                      list: one JSON object per result
      --config PATH, --log-level LEVEL, --log-format text|json

Exit status: 0 when everything listed or replayed, 1 when a replay still failed (the file stays).

Examples:
  stoq deadletter list
  stoq deadletter replay
  stoq deadletter replay --connector postgres --dir /var/lib/stoq/dead-letter`,
  show:
    `Usage: stoq show RESULT.json|SCAN_ID|- ... [--format tree|json|jsonl] [--store NAME] [--db PATH]

Renders stored results: each payload once under the one it was extracted from, with its type,
size, short sha256, findings, YARA rules, IOCs and errors, then the verdict and the findings that
made it. A reference that names a file is read (a result document, JSON lines of them, or a
dead-letter file); - reads stdin; anything else is a scan id looked up in the result store.

      --format tree|json|jsonl    tree (default; coloured on a terminal unless NO_COLOR is set),
                                  indented JSON, or one JSON document per line
      --store NAME                the result store plugin to ask (default sqlite)
      --db PATH                   the store's file (default: [sqlite] path, else $STOQ_HOME/stoq.sqlite)
      --config PATH, --log-level LEVEL, --log-format text|json

Examples:
  stoq scan sample.doc > sample.json && stoq show sample.json
  stoq scan -C sqlite sample.doc && stoq show 7c0c2a4e-0b0e-4f51-9d4c-3f1f0f8b9a11
  stoq search --verdict malicious --limit 1 | stoq show -`,
  serve: `Usage: stoq serve [--listen HOST:PORT] [--token TOKEN] [OPTIONS]

Serves an HTTP API and a web page from this process, with one pool of scan threads:
  POST /api/v1/scan?filename=NAME   scan the request body (raw bytes, or multipart with one file);
                                    answers the result document
  GET  /api/v1/results/SCAN_ID      a stored result
  GET  /api/v1/search?...           stored scans, by the filters of stoq search (sha256, md5,
                                    sha1, hash, rule, type, filename, verdict, since, until, limit)
  GET  /api/v1/health               liveness and load
  GET  /metrics                     Prometheus metrics
  GET  /                            the web page: drop files, recent scans, results, search
Results are saved in the result store (sqlite by default) and by [core] connectors.

      --listen HOST:PORT          where to listen (default [serve] listen, 127.0.0.1:8080)
      --token TOKEN               a bearer token clients must send (Authorization: Bearer);
                                  required to listen beyond loopback (also [serve] tokens and
                                  $STOQ_SERVE_TOKEN)
      --store NAME, --db PATH     the result store and its file (default sqlite,
                                  $STOQ_HOME/stoq.sqlite)
      --threads N                 scan threads (default [core] scan_threads, else one per core)

Uploads larger than [core] max_payload_size are refused (413); more scans at once than
[serve] max_scans are refused (429). Pipeline flags (-a, -D, -C, --plugin-opts...) apply.

Examples:
  stoq serve
  curl --data-binary @sample.doc 'http://127.0.0.1:8080/api/v1/scan?filename=sample.doc'
  STOQ_SERVE_TOKEN=s3cret stoq serve --listen 0.0.0.0:8080`,
  plugin: PLUGIN_HELP.plugin,
  version: `Usage: stoq --version`,
};

/** The help text of `command`. */
export function helpText(command: Command = "help", sub?: string): string {
  if (command === "plugin" && sub && Object.hasOwn(PLUGIN_HELP, sub)) return PLUGIN_HELP[sub];
  return command === "plugin_command" ? "" : TEXT[command];
}
