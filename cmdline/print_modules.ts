/**
 * Prints the modules a daemon exports: the shared body of `blit list HOST[:PORT]` and
 * `blit-utils list`.
 *
 * @module
 */

import type { ConnectionSecurity } from "../core/client_security.ts";
import { parseHostArg } from "./parse_host_arg.ts";
import { renderModules, renderMotd } from "./render_modules.ts";
import { withClient } from "./with_client.ts";

/**
 * Prints the modules of a daemon on stdout: the fingerprint of its certificate, then one line per
 * module or `no modules exported`; or with `json` one object
 * `{"host", "port", "fingerprint", "motd", "modules": [{"name", "read_only", "comment"}]}`
 * (`fingerprint` is `null` without TLS, `motd` without one). The daemon's motd goes to stderr.
 *
 * Requires `--allow-net` for the daemon and `--allow-env`.
 *
 * @example Usage
 * ```ts ignore
 * import { printModules } from "./print_modules.ts";
 * Deno.exitCode = await printModules("nas:9031", false);
 * ```
 *
 * @param hostText `HOST`, `HOST:PORT` or `[IPV6]:PORT`.
 * @param json Print JSON.
 * @param security The client's key and how the daemon is trusted.
 * @throws {UsageError} When `hostText` is malformed.
 * @throws {AdminCallError} When the daemon cannot be reached or refuses.
 * @returns The exit code: 0.
 */
export async function printModules(
  hostText: string,
  json: boolean,
  security: ConnectionSecurity = {},
): Promise<number> {
  const address = parseHostArg(hostText);
  const { modules, motd, fingerprint } = await withClient(
    address,
    async (client) => ({ ...(await client.daemonModules()), fingerprint: client.fingerprint }),
    security,
  );
  if (json) {
    console.log(
      JSON.stringify({
        host: address.host,
        port: address.port,
        fingerprint: fingerprint || null,
        motd: motd || null,
        modules,
      }),
    );
    return 0;
  }
  for (const line of renderMotd(motd)) console.error(line);
  console.log(`certificate ${fingerprint || "none (TLS off)"}`);
  if (modules.length === 0) {
    console.log("no modules exported");
  } else {
    for (const line of renderModules(modules)) console.log(line);
  }
  return 0;
}
