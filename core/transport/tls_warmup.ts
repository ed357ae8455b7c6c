/**
 * Deno's TLS client costs ~50–70 ms of CPU the first time a process uses it (measured: the first
 * `Deno.startTls` of a process 45–70 ms, every later one under 1 ms, whatever the certificate
 * store), and then the process's main thread waits on it. A remote run starts that set-up on
 * another thread at once, while its main thread loads the transfer modules; the set-up is the
 * process's, so the control connection's TLS later starts ready. It costs ~20 ms of CPU for the
 * worker and saved 35–40 ms of wall time per remote run here.
 *
 * @module
 */

/**
 * Starts Deno's TLS set-up on a worker thread and returns at once. The worker opens a loopback
 * listener of its own, starts a TLS client on a connection to it (nothing is verified or sent
 * beyond loopback), closes both and ends. Failures are ignored: it is only an optimisation.
 *
 * Requires `--allow-net` (loopback) and `--allow-read` for the worker's module.
 *
 * @example Usage
 * ```ts ignore
 * import { warmUpTls } from "./tls_warmup.ts";
 * warmUpTls(); // then load modules and dial the daemon
 * ```
 */
export function warmUpTls(): void {
  try {
    new Worker(new URL("./tls_warmup_worker.ts", import.meta.url), { type: "module" });
  } catch { /* no worker: the connection pays the set-up itself */ }
}
