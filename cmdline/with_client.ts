/**
 * Runs a body with an {@linkcode AdminClient} connected to a daemon, and closes it afterwards.
 *
 * @module
 */

import { AdminClient } from "../core/admin_client.ts";
import type { ConnectionSecurity } from "../core/client_security.ts";
import type { HostAddress } from "../core/endpoint.ts";

/**
 * Connects to a daemon, runs `body`, and closes the connection, also when `body` throws.
 *
 * Requires `--allow-net` for the daemon and `--allow-env` (grpc-js reads its variables).
 *
 * @example Usage
 * ```ts ignore
 * import { withClient } from "./with_client.ts";
 * const modules = await withClient({ host: "nas", port: 9031 }, (client) => client.listModules());
 * ```
 *
 * @param address The daemon.
 * @param body Uses the client.
 * @param security The client's key and how the daemon is trusted.
 * @throws {AdminCallError} When a call made by `body` fails (the channel connects on the first
 *   call); anything else `body` throws passes through.
 * @returns What `body` returned.
 */
export async function withClient<T>(
  address: HostAddress,
  body: (client: AdminClient) => Promise<T>,
  security: ConnectionSecurity = {},
): Promise<T> {
  const client = await AdminClient.connect(address, { security });
  try {
    return await body(client);
  } finally {
    client.close();
  }
}
