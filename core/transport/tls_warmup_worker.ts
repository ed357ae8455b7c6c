/**
 * The worker of `tls_warmup.ts`: it pays Deno's one-time TLS set-up on its own thread by starting
 * a TLS client on a loopback connection of its own, then closes everything and ends. Nothing
 * leaves the machine; nothing is verified or sent.
 *
 * @module
 */

/// <reference lib="deno.worker" />

try {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const tls = await Deno.startTls(tcp, { hostname: "warmup.blit.invalid" });
  tls.close();
  listener.close();
} catch { /* only an optimisation */ }
self.close();
