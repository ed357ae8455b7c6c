/**
 * Throughput of the data plane's client side over loopback: {@linkcode connectTls} (node:tls with
 * a pinned certificate) against plain `Deno.connect`, `Deno.connectTls` with `caCerts`, and
 * `Deno.startTls` over a TCP connection with `TCP_NODELAY` (how blit dials a pinned daemon) and
 * without it (Nagle's algorithm on), to a `Deno.listen`/`Deno.listenTls` server. Upload: the
 * client writes, the server reads and discards. Download: the server writes, the client reads and
 * discards. The servers run in a worker (their own thread and event loop, as a daemon would be
 * another process). Each line also counts the reading side's `read` calls: over Deno's TLS one call
 * returns at most one TLS record (16 KiB), whatever the buffer.
 *
 * Run: `deno run -A bench/tls_throughput.ts [MiB] [chunk KiB] [rounds]` (default 1024 MiB in
 * 1024 KiB writes and reads, 1 round).
 *
 * @module
 */

import { certificateFingerprint, generateServerCertificate, pemToDer } from "../core/tls_cert.ts";
import { connectTls } from "../core/transport/tls_client.ts";

/** A client connection, as measured. */
interface Conn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** Message from the main thread to the server worker. */
interface ServeRequest {
  certPem: string;
  keyPem: string;
  /** Bytes each download connection sends. */
  downloadBytes: number;
  /** Size of the server's reads and writes. */
  chunkBytes: number;
}

/** Listening ports of the worker. */
interface Ports {
  plainSink: number;
  tlsSink: number;
  plainSource: number;
  tlsSource: number;
}

/** Messages from the server worker. */
type ServerMessage = { ports: Ports } | { received: number; reads: number };

/** Worker side: sinks report each connection's byte count; sources send `downloadBytes`. */
function serveInWorker(): void {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<ServeRequest>) => void) | null;
    postMessage(message: ServerMessage): void;
  };
  scope.onmessage = (event: MessageEvent<ServeRequest>): void => {
    const { certPem, keyPem, downloadBytes, chunkBytes } = event.data;
    const listen = (secure: boolean): Deno.Listener =>
      secure
        ? Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: certPem, key: keyPem })
        : Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const sink = async (listener: Deno.Listener): Promise<void> => {
      const buffer = new Uint8Array(chunkBytes);
      for await (const conn of listener) {
        let total = 0;
        let reads = 0;
        try {
          for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
            total += n;
            reads++;
          }
        } catch (error) {
          console.error(`server: ${error}`);
        } finally {
          conn.close();
        }
        scope.postMessage({ received: total, reads });
      }
    };
    const source = async (listener: Deno.Listener): Promise<void> => {
      const chunk = new Uint8Array(chunkBytes).fill(0x5a);
      for await (const conn of listener) {
        try {
          for (let sent = 0; sent < downloadBytes;) {
            sent += await conn.write(chunk.subarray(0, Math.min(chunkBytes, downloadBytes - sent)));
          }
          await conn.closeWrite();
          // Wait for the client to close.
          while (await conn.read(chunk) !== null) { /* nothing comes */ }
        } catch (error) {
          console.error(`server: ${error}`);
        } finally {
          conn.close();
        }
      }
    };
    const listeners = [listen(false), listen(true), listen(false), listen(true)] as const;
    void sink(listeners[0]);
    void sink(listeners[1]);
    void source(listeners[2]);
    void source(listeners[3]);
    const port = (listener: Deno.Listener): number => (listener.addr as Deno.NetAddr).port;
    scope.postMessage({
      ports: {
        plainSink: port(listeners[0]),
        tlsSink: port(listeners[1]),
        plainSource: port(listeners[2]),
        tlsSource: port(listeners[3]),
      },
    });
  };
}

/** Main side: the worker and a queue of its messages. */
class ServerWorker {
  #worker = new Worker(import.meta.url, { type: "module" });
  #messages: ServerMessage[] = [];
  #wake: (() => void) | null = null;

  constructor(request: ServeRequest) {
    this.#worker.onmessage = (event: MessageEvent<ServerMessage>): void => {
      this.#messages.push(event.data);
      this.#wake?.();
    };
    this.#worker.postMessage(request);
  }

  async next(): Promise<ServerMessage> {
    while (this.#messages.length === 0) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.#messages.shift()!;
  }

  terminate(): void {
    this.#worker.terminate();
  }
}

function report(
  label: string,
  bytes: number,
  expected: number,
  start: number,
  reads: number,
): void {
  const seconds = (performance.now() - start) / 1000;
  const mib = bytes / 1024 / 1024;
  const rate = (mib / seconds).toFixed(0);
  const check = bytes === expected ? "" : ` (EXPECTED ${expected} BYTES)`;
  const perRead = reads > 0 ? (bytes / reads / 1024).toFixed(1) : "-";
  console.log(
    `${label.padEnd(42)} ${mib.toFixed(0)} MiB in ${seconds.toFixed(2)} s = ${rate} MiB/s, ` +
      `${reads} reads of ${perRead} KiB${check}`,
  );
}

async function upload(
  label: string,
  server: ServerWorker,
  connect: () => Promise<Conn>,
  totalBytes: number,
  chunkBytes: number,
): Promise<void> {
  const chunk = new Uint8Array(chunkBytes).fill(0x5a);
  const start = performance.now();
  const conn = await connect();
  for (let sent = 0; sent < totalBytes;) {
    const n = Math.min(chunkBytes, totalBytes - sent);
    sent += await conn.write(n === chunkBytes ? chunk : chunk.subarray(0, n));
  }
  conn.close();
  const message = await server.next();
  const [received, reads] = "received" in message ? [message.received, message.reads] : [-1, 0];
  report(`upload   ${label}`, received, totalBytes, start, reads);
}

async function download(
  label: string,
  connect: () => Promise<Conn>,
  totalBytes: number,
  chunkBytes: number,
): Promise<void> {
  const buffer = new Uint8Array(chunkBytes);
  const start = performance.now();
  const conn = await connect();
  let got = 0;
  let reads = 0;
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    got += n;
    reads++;
  }
  conn.close();
  report(`download ${label}`, got, totalBytes, start, reads);
}

async function main(): Promise<void> {
  const totalMib = Number(Deno.args[0] ?? 1024);
  const chunkKib = Number(Deno.args[1] ?? 1024);
  const rounds = Number(Deno.args[2] ?? 1);
  const total = totalMib * 1024 * 1024;
  const chunk = chunkKib * 1024;
  const { certPem, keyPem } = await generateServerCertificate();
  const certificate = pemToDer(certPem);
  const fingerprint = await certificateFingerprint(certificate);
  const server = new ServerWorker({ certPem, keyPem, downloadBytes: total, chunkBytes: chunk });
  const hello = await server.next();
  if (!("ports" in hello)) throw new Error("Cannot start the bench: the worker sent no ports");
  const ports = hello.ports;
  const plain = (port: number) => (): Promise<Conn> =>
    Deno.connect({ hostname: "127.0.0.1", port });
  const denoTls = (port: number) => (): Promise<Conn> =>
    Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [certPem] });
  const startTls = (port: number, noDelay: boolean) => async (): Promise<Conn> => {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    tcp.setNoDelay(noDelay);
    return await Deno.startTls(tcp, { hostname: "127.0.0.1", caCerts: [certPem] });
  };
  const nodeTls = (port: number) => (): Promise<Conn> =>
    connectTls("127.0.0.1", port, { kind: "pin", certificate, fingerprint }, 10_000);
  console.log(`${totalMib} MiB in ${chunkKib} KiB writes/reads over loopback, server in a worker`);
  try {
    for (let round = 0; round < rounds; round++) {
      await upload("Deno.connect (plain TCP)", server, plain(ports.plainSink), total, chunk);
      await upload("Deno.connectTls (caCerts)", server, denoTls(ports.tlsSink), total, chunk);
      await upload(
        "Deno.startTls, TCP_NODELAY",
        server,
        startTls(ports.tlsSink, true),
        total,
        chunk,
      );
      await upload("Deno.startTls, Nagle on", server, startTls(ports.tlsSink, false), total, chunk);
      await upload("connectTls (node:tls, pinned)", server, nodeTls(ports.tlsSink), total, chunk);
      await download("Deno.connect (plain TCP)", plain(ports.plainSource), total, chunk);
      await download("Deno.connectTls (caCerts)", denoTls(ports.tlsSource), total, chunk);
      await download("connectTls (node:tls, pinned)", nodeTls(ports.tlsSource), total, chunk);
    }
  } finally {
    server.terminate();
  }
}

/** True in the server worker (which runs this same module as its entry point). */
const inWorker = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope ===
  "function";
if (inWorker) serveInWorker();
else if (import.meta.main) await main();
