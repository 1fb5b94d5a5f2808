/** Help text of `stoq plugin` and each of its subcommands. */

/** `stoq plugin --help`, then one text per subcommand. */
export const PLUGIN_HELP: Record<string, string> = {
  plugin: `Usage: stoq plugin add|list|update|remove|check ...

Plugins published at a URL, pinned by the sha256 of their bytes in $STOQ_HOME/plugins.lock.json
and cached in $STOQ_HOME/plugin-cache/ (so later runs work offline). Before any of its code runs,
a pinned plugin's bytes are checked against the pin; bytes that changed are refused, never run.
Each runs in a Worker with only the permissions it declares, which [core] allow_plugin_net,
allow_plugin_read, allow_plugin_write, allow_plugin_run and allow_plugin_env must grant.

  add URL [--name N] [--yes]   fetch, show what it is and may do, pin it
  list [--json]                the pinned plugins
  update NAME [--yes]          re-fetch, show what changed, re-pin
  remove NAME                  unpin and drop it from the cache
  check FILE_OR_URL [--json]   validate a plugin module without running a scan

A scan can also name a plugin by URL with its digest, without pinning it in the lock file:
  stoq scan -a 'https://example.org/tiny.js#sha256=<hex>' sample.bin

stoq plugin SUBCOMMAND --help shows each one's help.`,
  add: `Usage: stoq plugin add URL [--name N] [--yes]

Fetches the module at URL (https, http or file), loads it in a Worker that may do nothing, to
read what it declares, and shows its name, version, classes, options and the tools, hosts, paths
and environment variables it asks for, with what [core] allow_plugin_* does not grant yet. Then
asks whether to pin it (--yes: without asking; needed when stdin is not a terminal) and records
URL, sha256, name, version and date in $STOQ_HOME/plugins.lock.json.

      --name N      register it as N (when its own name is taken)
  -y, --yes         pin without asking
  URL#sha256=HEX    refuse unless the fetched bytes have this sha256

Examples:
  stoq plugin add https://example.org/stoq/tiny_strings.ts
  stoq plugin add https://example.org/stoq/vt.js --name vt_lookup --yes
  stoq plugin add 'https://example.org/stoq/tiny.js#sha256=3f0a...'`,
  list: `Usage: stoq plugin list [--json]

Lists the pinned plugins: name, version, URL, sha256, when pinned, whether the bytes are cached.

Examples:
  stoq plugin list
  stoq plugin list --json | jq -r '.plugins[] | .name + " " + .sha256'`,
  update: `Usage: stoq plugin update NAME [--yes]

Fetches NAME's URL again. When the bytes changed, shows the new version and what changed in the
tools, hosts, paths and environment variables it asks for, then asks whether to pin the new bytes
(--yes: without asking). Until then the old pinned bytes are the ones that run.

Examples:
  stoq plugin update tiny_strings
  stoq plugin update vt_lookup --yes`,
  remove: `Usage: stoq plugin remove NAME

Removes NAME from the lock file and its bytes from the cache.

Examples:
  stoq plugin remove tiny_strings`,
  check: `Usage: stoq plugin check FILE_OR_URL [--json]

Validates a plugin module without running a scan and without pinning it: its default export, its
name, version, classes and options (every option is listed with its type and default), the
permissions it declares and whether [core] grants them, and prints its sha256 for a
URL#sha256= pin. The module is loaded in a Worker that may do nothing; create() is not called.
Exit status 0 when it is a valid plugin, 1 when not.

Examples:
  stoq plugin check ./my_plugin.ts
  stoq plugin check https://example.org/stoq/tiny.js --json | jq .sha256`,
};
