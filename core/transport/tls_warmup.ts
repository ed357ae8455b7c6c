/**
 * Deno's TLS client costs ~50–70 ms of CPU the first time a process uses it (measured: the first
 * `Deno.startTls` of a process 45–70 ms, every later one under 1 ms, whatever the certificate
 * store), and then the process's main thread waits on it. A remote run starts that set-up on
 * another thread at once, while its main thread loads the transfer modules; the set-up is the
 * process's, so the control connection's TLS later starts ready. It costs ~20 ms of CPU for the
 * worker and saved 35–40 ms of wall time per remote run here. When every core is already busy
 * (16 clients started at once), the worker only adds its own start to the queue: 16 one-file
 * pushes at once took 3.1–3.5 s with it and 3.0–3.1 s without, so a busy machine skips it.
 *
 * @module
 */

/**
 * Whether every core is already running something else, from the text of `/proc/loadavg` (its
 * fourth field counts the threads runnable right now, this one included): an instantaneous
 * reading, unlike the load averages.
 *
 * @param loadavg The text of `/proc/loadavg`.
 * @param cores Logical processors.
 * @returns `true` when the runnable threads other than this one fill every core; `false` when
 * they do not, or the text cannot be read.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { coresBusy } from "./tls_warmup.ts";
 * assertEquals(coresBusy("0.52 0.31 0.20 1/80 4242\n", 2), false);
 * assertEquals(coresBusy("6.10 3.05 1.20 9/95 4242\n", 2), true);
 * assertEquals(coresBusy("garbage", 2), false);
 * ```
 */
export function coresBusy(loadavg: string, cores: number): boolean {
  const running = Number(/^\S+ \S+ \S+ (\d+)\//.exec(loadavg)?.[1] ?? NaN);
  return Number.isInteger(running) && running - 1 >= cores;
}

function busyNow(): boolean {
  try {
    return coresBusy(Deno.readTextFileSync("/proc/loadavg"), navigator.hardwareConcurrency);
  } catch {
    return false; // not Linux, or no read permission: warm up as usual
  }
}

/**
 * Starts Deno's TLS set-up on a worker thread and returns at once. The worker opens a loopback
 * listener of its own, starts a TLS client on a connection to it (nothing is verified or sent
 * beyond loopback), closes both and ends. Failures are ignored: it is only an optimisation.
 * Nothing is started while every core is busy ({@linkcode coresBusy}).
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
  if (busyNow()) return;
  try {
    new Worker(new URL("./tls_warmup_worker.ts", import.meta.url), { type: "module" });
  } catch { /* no worker: the connection pays the set-up itself */ }
}
