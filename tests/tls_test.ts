import {
  deepStrictEqual as assertEquals,
  ok as assert,
  rejects as assertRejects,
} from "node:assert/strict";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  ListModulesRequestSchema,
  ListModulesResponseSchema,
  ModuleInfoSchema,
} from "../proto/gen/blit_pb.ts";
import {
  BLIT_SERVICE,
  blitChannelOptions,
  BlitClientClass,
  type BlitServer,
  blitServerOptions,
} from "../core/transport/grpc_service.ts";
import { type FilteredListener, listenFiltered } from "../core/transport/goaway_filter.ts";
import {
  certificateFingerprint,
  derToPem,
  generateServerCertificate,
  loadOrCreateServerCertificate,
  pemToDer,
  PINNED_NAME,
} from "../core/tls_cert.ts";
import {
  defaultKnownHostsPath,
  forgetKnownHost,
  type KnownHost,
  knownHostKey,
  lookupKnownHost,
  readKnownHosts,
  recordKnownHost,
} from "../core/known_hosts.ts";
import {
  CertificateMismatchError,
  connectDataPlane,
  connectTls,
  probeServerCertificate,
  type TlsVerify,
} from "../core/transport/tls_client.ts";
import { grpcChannelCredentials, grpcChannelOptions } from "../core/transport/grpc_tls.ts";

x509.cryptoProvider.set(crypto);

const HOST = "127.0.0.1";
const TIMEOUT_MS = 5_000;

/** A certificate and key pair, PEM. */
interface Pair {
  certPem: string;
  keyPem: string;
}

/** A running test server on 127.0.0.1. */
interface TestServer {
  port: number;
  close(): Promise<void>;
}

/** An echo server, with what it saw. */
interface EchoServer extends TestServer {
  /** Application bytes received over all connections. */
  readonly received: number;
  /** Connections that ended with a clean EOF (TLS close_notify). */
  readonly cleanEnds: number;
}

/** Errors seen by the server side of a test, checked at the end of a step. */
const serverErrors: string[] = [];

/** `Deno.listenTls` echo server: writes back every byte it reads, until EOF. */
function echoServer(pair: Pair): EchoServer {
  const listener = Deno.listenTls({
    hostname: HOST,
    port: 0,
    cert: pair.certPem,
    key: pair.keyPem,
  });
  const tasks: Promise<void>[] = [];
  let received = 0;
  let cleanEnds = 0;
  const serve = async (conn: Deno.TlsConn): Promise<void> => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        received += n;
        for (let at = 0; at < n;) at += await conn.write(buffer.subarray(at, n));
      }
      cleanEnds++;
    } catch (error) {
      serverErrors.push(String(error));
    } finally {
      conn.close();
    }
  };
  const loop = (async () => {
    for await (const conn of listener) tasks.push(serve(conn));
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get received(): number {
      return received;
    },
    get cleanEnds(): number {
      return cleanEnds;
    },
    async close(): Promise<void> {
      listener.close();
      await loop;
      await Promise.allSettled(tasks);
    },
  };
}

/** `Deno.listenTls` server that writes `total` bytes to its first client, then closes. */
function pushServer(pair: Pair, total: number): TestServer & { readonly written: number } {
  const listener = Deno.listenTls({
    hostname: HOST,
    port: 0,
    cert: pair.certPem,
    key: pair.keyPem,
  });
  let written = 0;
  const task = (async () => {
    const conn = await listener.accept();
    const chunk = new Uint8Array(256 * 1024).fill(0x42);
    try {
      while (written < total) written += await conn.write(chunk.subarray(0, total - written));
    } finally {
      conn.close();
    }
  })().catch((error) => {
    serverErrors.push(String(error));
  });
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get written(): number {
      return written;
    },
    async close(): Promise<void> {
      listener.close();
      await task;
    },
  };
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert(condition(), `timed out waiting for ${what}`);
}

/** A plain TCP server that reads and never answers. */
async function silentServer(): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((socket) => {
    sockets.add(socket);
    socket.on("data", () => {});
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    async close(): Promise<void> {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nobody listens on (bound, then released). */
function freePort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The pin rule of {@linkcode TlsVerify}. */
type PinVerify = Extract<TlsVerify, { kind: "pin" }>;

async function pinOf(certPem: string): Promise<PinVerify> {
  const certificate = pemToDer(certPem);
  return { kind: "pin", certificate, fingerprint: await certificateFingerprint(certificate) };
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

async function keyPair(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
}

async function keyPem(keys: CryptoKeyPair): Promise<string> {
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
}

/** A CA (self-signed, CA:TRUE) and a function that issues leaves signed by it. */
async function makeCa(name: string): Promise<{
  caPem: string;
  issue(names: x509.JsonGeneralName[]): Promise<Pair>;
}> {
  const caKeys = await keyPair();
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 86_400_000),
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  return {
    caPem: ca.toString("pem"),
    async issue(names: x509.JsonGeneralName[]): Promise<Pair> {
      const keys = await keyPair();
      const leaf = await x509.X509CertificateGenerator.create({
        subject: "CN=blitd",
        issuer: ca.subject,
        notBefore: new Date(now - 86_400_000),
        notAfter: new Date(now + 86_400_000),
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
        signingAlgorithm: ALGORITHM,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension(names),
          await x509.AuthorityKeyIdentifierExtension.create(ca),
        ],
      });
      return { certPem: leaf.toString("pem"), keyPem: await keyPem(keys) };
    },
  };
}

/** Writes `data` (from a reused buffer that is scribbled over after each write) and reads the echo. */
async function echoRoundTrip(
  conn: { read(p: Uint8Array): Promise<number | null>; write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
  writeSize: number,
): Promise<Uint8Array> {
  const received = new Uint8Array(data.length);
  const reading = (async () => {
    let filled = 0;
    const buffer = new Uint8Array(100_000);
    while (filled < data.length) {
      const n = await conn.read(buffer);
      if (n === null) break;
      received.set(buffer.subarray(0, n), filled);
      filled += n;
    }
    return filled;
  })();
  const scratch = new Uint8Array(writeSize);
  for (let at = 0; at < data.length; at += writeSize) {
    const piece = data.subarray(at, at + writeSize);
    scratch.set(piece);
    const n = await conn.write(scratch.subarray(0, piece.length));
    assertEquals(n, piece.length);
    scratch.fill(0xee); // the connection must not still be reading the caller's bytes
  }
  assertEquals(await reading, data.length);
  return received;
}

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let at = 0; at < length; at += 65_536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(length, at + 65_536)));
  }
  return bytes;
}

Deno.test("connectTls() with a pinned certificate", async (t) => {
  const pair = await generateServerCertificate();
  const other = await generateServerCertificate();
  const pin = await pinOf(pair.certPem);
  const server = echoServer(pair);
  const mitm = echoServer(other);
  try {
    await t.step("echoes bytes both ways through Deno.listenTls", async () => {
      serverErrors.length = 0;
      const conn = await connectTls(HOST, server.port, pin, TIMEOUT_MS);
      assertEquals(conn.fingerprint, pin.fingerprint);
      const data = randomBytes(3 * 1024 * 1024 + 17);
      assertEquals(await echoRoundTrip(conn, data, 1024 * 1024), data);
      assertEquals(
        await echoRoundTrip(conn, data.subarray(0, 300_000), 1000),
        data.subarray(0, 300_000),
      );
      conn.close();
      await assertRejects(
        conn.read(new Uint8Array(1)),
        /Cannot read: the TLS connection is closed/,
      );
      await assertRejects(
        conn.write(new Uint8Array(1)),
        /Cannot write: the TLS connection is closed/,
      );
    });

    await t.step("ends with close_notify, so the server reads a clean EOF", async () => {
      serverErrors.length = 0;
      const ends = server.cleanEnds;
      const conn = await connectTls(HOST, server.port, pin, TIMEOUT_MS);
      await conn.write(new Uint8Array([1, 2, 3]));
      const buffer = new Uint8Array(3);
      assertEquals(await conn.read(buffer), 3);
      conn.close();
      await waitFor(() => server.cleanEnds === ends + 1, "the server's EOF");
      assertEquals(serverErrors, []);
    });

    await t.step("close() fails a pending read", async () => {
      const conn = await connectTls(HOST, server.port, pin, TIMEOUT_MS);
      const pending = conn.read(new Uint8Array(10));
      conn.close();
      await assertRejects(pending, /^Error: Cannot read: the TLS connection is closed$/);
    });

    await t.step("bounds what it buffers when the reader is slow", async () => {
      const total = 64 * 1024 * 1024;
      const pusher = pushServer(pair, total);
      try {
        const conn = await connectTls(HOST, pusher.port, pin, TIMEOUT_MS);
        await new Promise((resolve) => setTimeout(resolve, 300));
        // Kernel socket buffers hold a few MiB; without pausing, all 64 MiB would be taken.
        assert(pusher.written < total / 2, `the server wrote ${pusher.written} bytes`);
        let got = 0;
        const buffer = new Uint8Array(1024 * 1024);
        for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) got += n;
        assertEquals(got, total);
        conn.close();
      } finally {
        await pusher.close();
      }
    });

    await t.step("refuses a server presenting another certificate (a MITM)", async () => {
      const error = await connectTls(HOST, mitm.port, pin, TIMEOUT_MS).then(
        () => null,
        (e: unknown) => e,
      );
      assert(error instanceof CertificateMismatchError, String(error));
      assertEquals(error.host, HOST);
      assertEquals(error.port, mitm.port);
      assertEquals(error.expected, pin.fingerprint);
      assertEquals(error.actual, await certificateFingerprint(pemToDer(other.certPem)));
      assert(error.message.startsWith(`Cannot trust ${HOST}:${mitm.port}: it presented`));
      assertEquals(mitm.received, 0);
    });

    await t.step(
      "probeServerCertificate() returns the certificate and its fingerprint",
      async () => {
        const probed = await probeServerCertificate(HOST, server.port, TIMEOUT_MS);
        const der = pemToDer(pair.certPem);
        assertEquals(probed.certificate, der);
        assertEquals(probed.fingerprint, await certificateFingerprint(der));
        assertEquals(pemToDer(derToPem(probed.certificate)), der);
      },
    );
  } finally {
    await server.close();
    await mitm.close();
  }
});

Deno.test("connectDataPlane() pins with Deno's TLS when the certificate carries the pinned name", async (t) => {
  const pair = await generateServerCertificate();
  const other = await generateServerCertificate(); // also carries PINNED_NAME, another key
  const named = await generateServerCertificate({ names: ["127.0.0.1"] });
  const pin = await pinOf(pair.certPem);
  const server = echoServer(pair);
  const mitm = echoServer(other);
  const plainNamed = echoServer(named);
  try {
    await t.step("echoes bytes both ways through the pinned certificate", async () => {
      const conn = await connectDataPlane(HOST, server.port, pin, TIMEOUT_MS);
      try {
        // Deno's TLS connection may take part of a write, like any Deno.Conn: write it all.
        const whole = {
          read: (p: Uint8Array) => conn.read(p),
          write: async (p: Uint8Array) => {
            for (let at = 0; at < p.length;) at += await conn.write(p.subarray(at));
            return p.length;
          },
        };
        const data = randomBytes(3 * 1024 * 1024);
        assertEquals(await echoRoundTrip(whole, data, 1024 * 1024), data);
      } finally {
        conn.close();
      }
    });
    await t.step("refuses another certificate with the same names, sending nothing", async () => {
      const error = await connectDataPlane(HOST, mitm.port, pin, TIMEOUT_MS).then(
        () => null,
        (e: unknown) => e,
      );
      assert(error instanceof Error, String(error));
      assert(
        error.message.startsWith(`Cannot verify ${HOST}:${mitm.port}: it did not`),
        error.message,
      );
      assertEquals(mitm.received, 0);
    });
    await t.step("falls back to connectTls() for a certificate without the name", async () => {
      const namedPin = await pinOf(named.certPem);
      const conn = await connectDataPlane(HOST, plainNamed.port, namedPin, TIMEOUT_MS);
      assert("fingerprint" in conn, "the node:tls connection");
      const data = randomBytes(100_000);
      assertEquals(await echoRoundTrip(conn, data, 10_000), data);
      conn.close();
      const refused = await connectDataPlane(HOST, mitm.port, namedPin, TIMEOUT_MS).then(
        () => null,
        (e: unknown) => e,
      );
      assert(refused instanceof CertificateMismatchError, String(refused));
    });
  } finally {
    await server.close();
    await mitm.close();
    await plainNamed.close();
  }
});

Deno.test("connectTls() with CA verification", async (t) => {
  const ca = await makeCa("blit test CA");
  const stranger = await makeCa("another CA");
  const good = echoServer(
    await ca.issue([{ type: "ip", value: HOST }, { type: "dns", value: "localhost" }]),
  );
  const wrongName = echoServer(
    await ca.issue([{ type: "ip", value: "10.9.9.9" }, { type: "dns", value: "nas.example" }]),
  );
  const otherCa = echoServer(await stranger.issue([{ type: "ip", value: HOST }]));
  const verify: TlsVerify = { kind: "ca", caPem: ca.caPem };
  try {
    await t.step("accepts a leaf of the CA valid for the IP address", async () => {
      const conn = await connectTls(HOST, good.port, verify, TIMEOUT_MS);
      const data = randomBytes(10_000);
      assertEquals(await echoRoundTrip(conn, data, 4096), data);
      conn.close();
    });

    await t.step("accepts a leaf of the CA valid for the DNS name", async () => {
      const conn = await connectTls("localhost", good.port, verify, TIMEOUT_MS);
      conn.close();
    });

    await t.step("refuses a leaf of the CA issued for another name", async () => {
      await assertRejects(
        connectTls(HOST, wrongName.port, verify, TIMEOUT_MS),
        new RegExp(
          `^Error: Cannot verify ${HOST}:${wrongName.port}: .*ERR_TLS_CERT_ALTNAME_INVALID`,
        ),
      );
      await assertRejects(
        connectTls("localhost", wrongName.port, verify, TIMEOUT_MS),
        /Cannot verify localhost:\d+: .*ERR_TLS_CERT_ALTNAME_INVALID/,
      );
    });

    await t.step("a pin is not a CA: refuses a leaf signed by the pinned certificate", async () => {
      const error = await connectTls(HOST, good.port, await pinOf(ca.caPem), TIMEOUT_MS).then(
        () => null,
        (e: unknown) => e,
      );
      assert(error instanceof CertificateMismatchError, String(error));
    });

    await t.step("refuses a leaf not signed by the CA", async () => {
      await assertRejects(
        connectTls(HOST, otherCa.port, verify, TIMEOUT_MS),
        /^Error: Cannot verify 127\.0\.0\.1:\d+: .*\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/,
      );
    });
  } finally {
    await good.close();
    await wrongName.close();
    await otherCa.close();
  }
});

Deno.test("probeServerCertificate() and connectTls() on a peer without TLS", async (t) => {
  await t.step("a plain TCP server that waits for bytes: no TLS answer", async () => {
    const silent = await silentServer();
    try {
      await assertRejects(
        probeServerCertificate(HOST, silent.port, 500),
        new RegExp(
          `^Error: Cannot start TLS with ${HOST}:${silent.port}: no TLS answer after 0.5 s \\(is it running with tls = false\\? then pass --no-tls\\)$`,
        ),
      );
    } finally {
      await silent.close();
    }
  });

  await t.step("a plaintext gRPC daemon (HTTP/2): does not speak TLS", async () => {
    const { server, listener, port } = await startGrpc(null);
    try {
      const expected = new RegExp(
        `^Error: Cannot start TLS with ${HOST}:${port}: the daemon does not speak TLS \\(is it running with tls = false\\? then pass --no-tls\\)$`,
      );
      await assertRejects(probeServerCertificate(HOST, port, TIMEOUT_MS), expected);
      const pin = await pinOf((await generateServerCertificate()).certPem);
      await assertRejects(connectTls(HOST, port, pin, TIMEOUT_MS), expected);
    } finally {
      await stopGrpc(server, listener);
    }
  });

  await t.step("a daemon that closes at once (an address it refuses)", async () => {
    const listener = Deno.listen({ hostname: HOST, port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const closing = listener.accept().then((conn) => conn.close());
    try {
      await assertRejects(
        probeServerCertificate(HOST, port, TIMEOUT_MS),
        new RegExp(
          `^Error: Cannot start TLS with ${HOST}:${port}: the connection closed during the handshake \\(the daemon may refuse this address; or, is it running with tls = false\\? then pass --no-tls\\)$`,
        ),
      );
    } finally {
      await closing;
      listener.close();
    }
  });

  await t.step("nobody listening: connection refused", async () => {
    const port = freePort();
    await assertRejects(
      probeServerCertificate(HOST, port, TIMEOUT_MS),
      new RegExp(`^Error: Cannot reach ${HOST}:${port}: connection refused$`),
    );
  });
});

Deno.test("known hosts file", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "blit-tls-test-" });
  const path = `${dir}/config/blit/known_hosts`;
  const entry = async (host: string, port: number): Promise<KnownHost> => {
    const certificate = pemToDer((await generateServerCertificate()).certPem);
    return { host, port, fingerprint: await certificateFingerprint(certificate), certificate };
  };
  try {
    await t.step("defaultKnownHostsPath() prefers XDG_CONFIG_HOME", () => {
      assertEquals(
        defaultKnownHostsPath({ XDG_CONFIG_HOME: "/x/", HOME: "/h" }),
        "/x/blit/known_hosts",
      );
      assertEquals(
        defaultKnownHostsPath({ XDG_CONFIG_HOME: "", HOME: "/h" }),
        "/h/.config/blit/known_hosts",
      );
      assertEquals(defaultKnownHostsPath({ HOME: "/h" }), "/h/.config/blit/known_hosts");
      assert(defaultKnownHostsPath().endsWith("/blit/known_hosts"));
    });

    await t.step("knownHostKey() lower-cases and brackets IPv6", () => {
      assertEquals(knownHostKey("NAS.Lan", 9031), "nas.lan:9031");
      assertEquals(knownHostKey("::1", 9031), "[::1]:9031");
      assertEquals(knownHostKey("[::1]", 9031), "[::1]:9031");
    });

    await t.step("a missing file has no entries", async () => {
      assertEquals(await readKnownHosts(path), []);
      assertEquals(await lookupKnownHost(path, "nas.lan", 9031), undefined);
      assertEquals(await forgetKnownHost(path, "nas.lan"), 0);
    });

    const nas = await entry("NAS.lan", 9031);
    const v6 = await entry("::1", 9031);
    await t.step("records, looks up and keeps comments", async () => {
      await recordKnownHost(path, nas);
      await Deno.writeTextFile(path, "# pinned daemons\n\n" + await Deno.readTextFile(path));
      await recordKnownHost(path, v6);
      const found = await lookupKnownHost(path, "nas.LAN", 9031);
      assertEquals(found, { ...nas, host: "nas.lan" });
      assertEquals((await lookupKnownHost(path, "[::1]", 9031))?.fingerprint, v6.fingerprint);
      assertEquals(await lookupKnownHost(path, "nas.lan", 9032), undefined);
      const lines = (await Deno.readTextFile(path)).split("\n");
      assertEquals(lines.slice(0, 2), ["# pinned daemons", ""]);
      assert(lines[2]!.startsWith(`nas.lan:9031 ${nas.fingerprint} `));
      assert(lines[3]!.startsWith(`[::1]:9031 ${v6.fingerprint} `));
    });

    await t.step("writes the file 0600 in a 0700 directory", async () => {
      assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
      assertEquals((await Deno.stat(`${dir}/config/blit`)).mode! & 0o777, 0o700);
      const leftovers = [...Deno.readDirSync(`${dir}/config/blit`)].map((e) => e.name);
      assertEquals(leftovers, ["known_hosts"]);
    });

    await t.step("replaces the entry of the same host:port", async () => {
      const renewed = await entry("nas.lan", 9031);
      await recordKnownHost(path, renewed);
      const all = await readKnownHosts(path);
      assertEquals(all.length, 2);
      assertEquals(
        (await lookupKnownHost(path, "nas.lan", 9031))?.fingerprint,
        renewed.fingerprint,
      );
      assertEquals(all[0]?.fingerprint, renewed.fingerprint); // in place
    });

    await t.step("refuses an entry whose fingerprint is not its certificate's", async () => {
      await assertRejects(
        recordKnownHost(path, { ...nas, fingerprint: v6.fingerprint }),
        /^TypeError: Cannot record nas\.lan:9031: the fingerprint does not match the certificate/,
      );
    });

    await t.step("refuses a host or port that would break the file", async () => {
      await assertRejects(recordKnownHost(path, { ...nas, host: "a b" }), /not a valid HOST:PORT/);
      await assertRejects(recordKnownHost(path, { ...nas, port: 0 }), /not a valid HOST:PORT/);
      await assertRejects(recordKnownHost(path, { ...nas, port: 1.5 }), /not a valid HOST:PORT/);
    });

    await t.step("forgets one port, or every port of a host", async () => {
      await recordKnownHost(path, await entry("nas.lan", 9032));
      await recordKnownHost(path, await entry("nas.lan", 9033));
      assertEquals(await forgetKnownHost(path, "NAS.lan", 9032), 1);
      assertEquals(await forgetKnownHost(path, "nas.lan", 9032), 0);
      assertEquals(await forgetKnownHost(path, "nas.lan"), 2);
      assertEquals((await readKnownHosts(path)).map((e) => knownHostKey(e.host, e.port)), [
        "[::1]:9031",
      ]);
      assertEquals((await Deno.readTextFile(path)).split("\n")[0], "# pinned daemons");
    });

    await t.step("names a malformed line", async () => {
      const text = await Deno.readTextFile(path);
      await Deno.writeTextFile(path, text + "nas.lan 9031 SHA256:x AAAA\n");
      await assertRejects(
        readKnownHosts(path),
        new RegExp(
          `^TypeError: Cannot read known hosts "${path}" line 4: .*; fix or delete that line$`,
        ),
      );
      const tampered = text.replace(
        / (\S+)\n$/,
        (_all, b64: string) => ` ${"A".repeat(b64.length)}\n`,
      );
      await Deno.writeTextFile(path, tampered);
      await assertRejects(
        lookupKnownHost(path, "::1", 9031),
        /line 3: the fingerprint does not match the certificate; fix or delete that line$/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generateServerCertificate()", async (t) => {
  await t.step("makes a self-signed P-256 leaf for TLS servers", async () => {
    const { certPem, keyPem } = await generateServerCertificate({
      names: ["nas.example", "10.0.0.5", "[fe80::1]"],
      days: 10,
    });
    assert(keyPem.startsWith("-----BEGIN PRIVATE KEY-----\n"));
    const cert = new x509.X509Certificate(pemToDer(certPem));
    assertEquals(cert.subject, "CN=blitd");
    assertEquals(cert.issuer, "CN=blitd");
    assert(await cert.isSelfSigned());
    assertEquals(cert.signatureAlgorithm.name, "ECDSA");
    assertEquals((cert.publicKey.algorithm as EcKeyAlgorithm).namedCurve, "P-256");
    const basic = cert.getExtension(x509.BasicConstraintsExtension);
    assertEquals([basic?.ca, basic?.critical], [false, true]);
    assertEquals(
      cert.getExtension(x509.KeyUsagesExtension)?.usages,
      x509.KeyUsageFlags.digitalSignature,
    );
    assertEquals([...cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? []], [
      x509.ExtendedKeyUsage.serverAuth,
    ]);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON();
    assertEquals(san, [
      { type: "dns", value: "nas.example" },
      { type: "ip", value: "10.0.0.5" },
      { type: "ip", value: "fe80::1" },
    ]);
    const days = (cert.notAfter.getTime() - cert.notBefore.getTime()) / 86_400_000;
    assertEquals(days, 10);
    assert(cert.notBefore.getTime() < Date.now() - 86_000_000);
    assert(cert.serialNumber.length >= 30, cert.serialNumber);
  });

  await t.step(
    "uses localhost, the loopback addresses and the pinned name by default",
    async () => {
      const { certPem } = await generateServerCertificate();
      const cert = new x509.X509Certificate(pemToDer(certPem));
      const san = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON();
      assertEquals(san?.map((n) => n.value), ["localhost", "127.0.0.1", "::1", PINNED_NAME]);
    },
  );
});

Deno.test("loadOrCreateServerCertificate()", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "blit-tls-test-" });
  try {
    let first = "";
    await t.step("generates the identity once, then reuses it", async () => {
      const made = await loadOrCreateServerCertificate(dir);
      assert(made.generated);
      assert(made.certPem.startsWith("-----BEGIN CERTIFICATE-----"));
      assert(made.keyPem.startsWith("-----BEGIN PRIVATE KEY-----"));
      assertEquals(made.fingerprint, await certificateFingerprint(pemToDer(made.certPem)));
      const again = await loadOrCreateServerCertificate(dir);
      assertEquals(again.generated, false);
      assertEquals(again.fingerprint, made.fingerprint);
      first = made.fingerprint;
    });

    await t.step("writes the key 0600, the certificate 0644, the directory 0700", async () => {
      assertEquals((await Deno.stat(`${dir}/tls/key.pem`)).mode! & 0o777, 0o600);
      assertEquals((await Deno.stat(`${dir}/tls/cert.pem`)).mode! & 0o777, 0o644);
      assertEquals((await Deno.stat(`${dir}/tls`)).mode! & 0o777, 0o700);
      assertEquals([...Deno.readDirSync(`${dir}/tls`)].map((e) => e.name).sort(), [
        "cert.pem",
        "key.pem",
      ]);
    });

    await t.step("the generated certificate serves Deno.listenTls", async () => {
      const identity = await loadOrCreateServerCertificate(dir);
      const server = echoServer(identity);
      try {
        const conn = await connectTls(HOST, server.port, await pinOf(identity.certPem), TIMEOUT_MS);
        assertEquals(conn.fingerprint, first);
        conn.close();
      } finally {
        await server.close();
      }
    });

    await t.step("refuses a key readable by others", async () => {
      await Deno.chmod(`${dir}/tls/key.pem`, 0o644);
      await assertRejects(
        loadOrCreateServerCertificate(dir),
        /^Error: Cannot use TLS key ".*key\.pem": it is readable by group or others \(mode 0644\); run chmod 600 ".*key\.pem"$/,
      );
      await Deno.chmod(`${dir}/tls/key.pem`, 0o600);
    });

    await t.step("refuses half an identity", async () => {
      await Deno.rename(`${dir}/tls/cert.pem`, `${dir}/cert.pem`);
      await assertRejects(loadOrCreateServerCertificate(dir), /exists but ".*cert\.pem" does not/);
      await Deno.rename(`${dir}/cert.pem`, `${dir}/tls/cert.pem`);
    });

    await t.step("reads the operator's files and names a bad one", async () => {
      const other = await generateServerCertificate({ names: ["nas.example"], days: 30 });
      await Deno.writeTextFile(`${dir}/op-cert.pem`, other.certPem);
      await Deno.writeTextFile(`${dir}/op-key.pem`, other.keyPem, { mode: 0o600 });
      await Deno.chmod(`${dir}/op-key.pem`, 0o600);
      const loaded = await loadOrCreateServerCertificate(dir, {
        certPath: `${dir}/op-cert.pem`,
        keyPath: `${dir}/op-key.pem`,
      });
      assertEquals(loaded.generated, false);
      assertEquals(loaded.fingerprint, await certificateFingerprint(pemToDer(other.certPem)));
      await assertRejects(
        loadOrCreateServerCertificate(dir, {
          certPath: `${dir}/none.pem`,
          keyPath: `${dir}/op-key.pem`,
        }),
        /^Error: Cannot read TLS certificate ".*none\.pem": it does not exist; check tls_cert$/,
      );
      await assertRejects(
        loadOrCreateServerCertificate(dir, {
          certPath: `${dir}/op-key.pem`,
          keyPath: `${dir}/op-key.pem`,
        }),
        /^TypeError: Cannot parse TLS certificate ".*op-key\.pem": .*; check tls_cert$/,
      );
      await assertRejects(
        loadOrCreateServerCertificate(dir, {
          certPath: `${dir}/tls/cert.pem`,
          keyPath: `${dir}/op-key.pem`,
        }),
        /^TypeError: Cannot use TLS key ".*op-key\.pem": it does not belong to certificate ".*cert\.pem"; check tls_key$/,
      );
      await assertRejects(
        loadOrCreateServerCertificate(dir, { certPath: `${dir}/op-cert.pem` }),
        /tls_key is not set; set both or none/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A one-method daemon: `listModules` answers one module, the rest are not implemented. */
function unimplemented(_call: unknown, callback: grpc.sendUnaryData<never>): void {
  callback({ code: grpc.status.UNIMPLEMENTED, details: "Cannot serve: not implemented" });
}

const testService: BlitServer = {
  listModules(_call, callback) {
    callback(
      null,
      create(ListModulesResponseSchema, {
        modules: [create(ModuleInfoSchema, { name: "backup", readOnly: false, comment: "" })],
      }),
    );
  },
  transfer(call) {
    call.end();
  },
  listDir: unimplemented,
  find(call) {
    call.end();
  },
  diskUsage(call) {
    call.end();
  },
  diskFree: unimplemented,
  remove: unimplemented,
  completePath: unimplemented,
  challenge: unimplemented,
};

async function startGrpc(
  pair: Pair | null,
): Promise<{ server: grpc.Server; listener: FilteredListener; port: number }> {
  const server = new grpc.Server(blitServerOptions());
  server.addService(BLIT_SERVICE, testService);
  const { listener, port } = await listenFiltered(server, grpc.ServerCredentials.createInsecure(), {
    hostname: HOST,
    port: 0,
    tls: pair === null ? null : { cert: pair.certPem, key: pair.keyPem },
  });
  return { server, listener, port };
}

async function stopGrpc(server: grpc.Server, listener: FilteredListener): Promise<void> {
  listener.close();
  server.forceShutdown();
  await new Promise((resolve) => setTimeout(resolve, 50));
}

/** Calls listModules once; resolves to the module names or to the error text. */
async function callListModules(host: string, port: number, verify: TlsVerify): Promise<string> {
  const target = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const client = new BlitClientClass(target, grpcChannelCredentials(verify), {
    ...blitChannelOptions(),
    ...grpcChannelOptions(verify, host),
  });
  try {
    return await new Promise<string>((resolve) => {
      client.listModules(
        create(ListModulesRequestSchema),
        new grpc.Metadata(),
        { deadline: Date.now() + TIMEOUT_MS },
        (error, response) =>
          resolve(
            error
              ? `${grpc.status[error.code]}: ${error.details}`
              : response!.modules.map((m) => m.name).join(","),
          ),
      );
    });
  } finally {
    client.close();
  }
}

Deno.test("grpcChannelCredentials()", async (t) => {
  const pair = await generateServerCertificate();
  const pinned = await startGrpc(pair);
  const ca = await makeCa("blit grpc CA");
  const signed = await startGrpc(
    await ca.issue([{ type: "ip", value: HOST }, { type: "dns", value: "localhost" }]),
  );
  const caVerify: TlsVerify = { kind: "ca", caPem: ca.caPem };
  try {
    await t.step("calls a daemon over TLS with the pinned certificate", async () => {
      assertEquals(await callListModules(HOST, pinned.port, await pinOf(pair.certPem)), "backup");
    });

    await t.step("fails with another pinned certificate", async () => {
      const other = await pinOf((await generateServerCertificate()).certPem);
      const result = await callListModules(HOST, pinned.port, other);
      assert(result.startsWith("UNAVAILABLE: "), result);
    });

    await t.step("verifies against a CA, for an IP target and for a DNS name", async () => {
      assertEquals(await callListModules(HOST, signed.port, caVerify), "backup");
      assertEquals(await callListModules("localhost", signed.port, caVerify), "backup");
    });

    await t.step("refuses a daemon outside the CA, or under a name it lacks", async () => {
      const result = await callListModules(HOST, pinned.port, caVerify);
      assert(result.startsWith("UNAVAILABLE: "), result);
      const wrong = await startGrpc(await ca.issue([{ type: "ip", value: "10.9.9.9" }]));
      try {
        const refused = await callListModules(HOST, wrong.port, caVerify);
        assert(refused.startsWith("UNAVAILABLE: ") && /altnames/.test(refused), refused);
      } finally {
        await stopGrpc(wrong.server, wrong.listener);
      }
    });

    await t.step("a pin is not a CA: refuses a leaf signed by the pinned certificate", async () => {
      const result = await callListModules(HOST, signed.port, await pinOf(ca.caPem));
      assert(
        /^UNAVAILABLE: .*Cannot trust 127\.0\.0\.1: it presented certificate/.test(result),
        result,
      );
    });

    await t.step("grpcChannelOptions() overrides the name only for IP targets", () => {
      assertEquals(grpcChannelOptions(caVerify, "localhost"), {});
      assertEquals(grpcChannelOptions(caVerify, "::1"), {
        "grpc.ssl_target_name_override": "--1.ip.blit.invalid",
      });
      assertEquals(grpcChannelOptions(caVerify, "[fe80::1]"), {
        "grpc.ssl_target_name_override": "fe80--1.ip.blit.invalid",
      });
    });
  } finally {
    await stopGrpc(pinned.server, pinned.listener);
    await stopGrpc(signed.server, signed.listener);
  }
});
