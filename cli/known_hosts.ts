/**
 * `blit known-hosts list` and `blit known-hosts forget HOST[:PORT]`: show and remove the daemon
 * certificates this client pinned (see core/known_hosts.ts).
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import {
  defaultKnownHostsPath,
  forgetKnownHost,
  knownHostKey,
  readKnownHosts,
} from "../core/known_hosts.ts";
import { explainArgs } from "../cmdline/explain_args.ts";
import { parseArgs } from "../cmdline/parse_args.ts";
import { parseHostArg } from "../cmdline/parse_host_arg.ts";

/** Help of `blit known-hosts`. */
export const KNOWN_HOSTS_HELP = `Usage: blit known-hosts list [--json] [--known-hosts PATH]
       blit known-hosts forget HOST[:PORT] [--known-hosts PATH]

The daemons whose certificate this client pinned the first time it reached them.
  list               one line per daemon: HOST:PORT and the certificate's fingerprint
  forget HOST[:PORT] remove the pinned certificate of HOST (every port without :PORT), so
                     that the next connection pins the daemon's new certificate
  --known-hosts PATH the file (default: BLIT_KNOWN_HOSTS, else
                     $XDG_CONFIG_HOME/blit/known_hosts or ~/.config/blit/known_hosts)
  --json             list: print [{"host", "port", "fingerprint"}]
`;

/**
 * Runs `blit known-hosts SUBCOMMAND`. `forget` exits 0 when it removed an entry and 1 (with
 * "no known host HOST in PATH" on stderr) when there was none.
 *
 * Requires `--allow-read`, `--allow-write` (forget) and `--allow-env` (`BLIT_KNOWN_HOSTS`,
 * `XDG_CONFIG_HOME`, `HOME`).
 *
 * @example Usage
 * ```ts ignore
 * import { runKnownHosts } from "./known_hosts.ts";
 * Deno.exitCode = await runKnownHosts(["forget", "nas:9031"]);
 * ```
 *
 * @param args Arguments after `known-hosts`.
 * @throws {UsageError} For an unknown subcommand, bad flags, or a missing or malformed host.
 * @throws {TypeError} If the file has a malformed line.
 * @returns The exit code.
 */
export async function runKnownHosts(args: string[]): Promise<number> {
  const { values, positionals } = explainArgs("blit known-hosts", () =>
    parseArgs({
      args,
      options: {
        "known-hosts": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    }));
  const [sub, ...rest] = positionals;
  if (values.help || sub === undefined) {
    console.log(KNOWN_HOSTS_HELP);
    return sub === undefined && !values.help ? 1 : 0;
  }
  const path = knownHostsPath(values["known-hosts"]);
  if (sub === "list") {
    if (rest.length > 0) {
      throw new UsageError(`Cannot use extra argument "${rest[0]}": "list" takes no host`);
    }
    const entries = await readKnownHosts(path);
    if (values.json) {
      const rows = entries.map(({ host, port, fingerprint }) => ({ host, port, fingerprint }));
      console.log(JSON.stringify(rows));
    } else {
      for (const entry of entries) {
        console.log(`${knownHostKey(entry.host, entry.port)} ${entry.fingerprint}`);
      }
    }
    return 0;
  }
  if (sub === "forget") {
    if (values.json) throw new UsageError(`Cannot use --json with "forget": it prints one line`);
    if (rest.length !== 1) {
      throw new UsageError(
        `Cannot run blit known-hosts forget: expected HOST[:PORT], got ${rest.length} arguments`,
      );
    }
    const text = rest[0] as string;
    const address = parseHostArg(text);
    const port = hasPort(text) ? address.port : undefined;
    const removed = await forgetKnownHost(path, address.host, port);
    const host = address.host.toLowerCase();
    const shown = port !== undefined
      ? knownHostKey(host, port)
      : host.includes(":")
      ? `[${host}]`
      : host;
    if (removed === 0) {
      console.error(`no known host ${shown} in ${path}`);
      return 1;
    }
    console.log(`forgot ${removed} ${removed === 1 ? "entry" : "entries"} for ${shown}`);
    return 0;
  }
  throw new UsageError(
    `Cannot run known-hosts "${sub}": the subcommands are "list" and "forget"`,
  );
}

/** `--known-hosts PATH`, else `BLIT_KNOWN_HOSTS`, else the default file. */
function knownHostsPath(flag: string | undefined): string {
  if (flag !== undefined) {
    if (flag === "") throw new UsageError(`Cannot use --known-hosts "": give the path of a file`);
    return flag;
  }
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("BLIT_KNOWN_HOSTS");
  } catch { /* not readable: use the default */ }
  if (fromEnv) return fromEnv;
  try {
    return defaultKnownHostsPath();
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split("; ")[0]}; pass --known-hosts PATH`);
  }
}

/** Whether `HOST[:PORT]` as typed names a port (`nas:9031`, `[::1]:9031`). */
function hasPort(text: string): boolean {
  return text.startsWith("[") ? text.includes("]:") : text.includes(":");
}
