/**
 * The secure daemon through the real `blitd` and the real CLIs: keys, access rules, safe
 * defaults, connection limits, the hello deadline, known-hosts pinning, `--tls-ca`, the audit
 * log, a man in the middle, and what a wire sniffer sees.
 */

import { deepStrictEqual, equal, match, notEqual, ok } from "node:assert/strict";
import { connect as netConnect, createServer, type Socket } from "node:net";
import { Buffer } from "node:buffer";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { writeIdentity } from "../core/identity.ts";
import { certificateFingerprint, generateServerCertificate, pemToDer } from "../core/tls_cert.ts";
import {
  startDaemon,
  startDaemonWithConfig,
  TEST_USER,
  testClientKey,
  testServerCertificate,
} from "./_daemon.ts";
import {
  assertNoStack,
  exists,
  makeTree,
  readTree,
  runBlit,
  type RunResult,
  runUtils,
  withTempDir,
} from "./_helpers.ts";

/** A key pair for a test user. */
async function key(dir: string, name: string): Promise<{ path: string; line: string }> {
  const path = `${dir}/keys/${name}`;
  const written = await writeIdentity(path, { comment: `${name}@test` });
  return { path, line: written.publicLine };
}

/** The last line of stderr. */
function lastLine(result: RunResult): string {
  return result.stderr.trim().split("\n").at(-1) ?? "";
}

function failed(result: RunResult, pattern: RegExp): void {
  notEqual(result.code, 0, `expected a failure:\n${result.stdout}\n${result.stderr}`);
  assertNoStack(result.stderr);
  match(result.stderr, pattern);
}

function succeeded(result: RunResult): void {
  equal(result.code, 0, `expected success:\n${result.stdout}\n${result.stderr}`);
}

/** Reads the audit log's JSON lines. */
async function auditLines(path: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(path);
  return text.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

/** Waits until a socket is closed by the peer; resolves to the milliseconds it took. */
function closedWithin(socket: Socket, timeoutMs: number): Promise<number | null> {
  const started = performance.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(null);
    }, timeoutMs);
    socket.on("data", () => {});
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
  });
}

/** Opens a raw TCP connection (optionally from another loopback address) and waits for it. */
function rawConnect(port: number, localAddress = "127.0.0.1"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port, localAddress });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

Deno.test("blitd access: keys, users, :ro, anonymous modules, the audit log", async (t) => {
  await withTempDir(async (dir) => {
    const alice = await key(dir, "alice");
    const bob = await key(dir, "bob");
    const mallory = await key(dir, "mallory");
    const { certPath, keyPath } = await testServerCertificate();
    for (const m of ["photos", "pub", "drop", "hidden"]) await Deno.mkdir(`${dir}/${m}`);
    await makeTree(`${dir}/src`, { "a.txt": "alpha", "sub/b.txt": "beta" });
    await makeTree(`${dir}/pub`, { "readme.txt": "public" });
    const audit = `${dir}/audit.jsonl`;
    const toml = [
      "[daemon]",
      'bind = "127.0.0.1"',
      "port = 0",
      "no_mdns = true",
      `tls_cert = "${certPath}"`,
      `tls_key = "${keyPath}"`,
      `state_dir = "${dir}/state"`,
      `audit_log = "${audit}"`,
      "[[user]]",
      'name = "alice"',
      `public_key = ["${alice.line}"]`,
      "[[user]]",
      'name = "bob"',
      `public_key = "${bob.line}"`,
      "[[module]]",
      'name = "photos"',
      `path = "${dir}/photos"`,
      'users = ["alice", "bob:ro"]',
      "[[module]]",
      'name = "pub"',
      `path = "${dir}/pub"`,
      "read_only = false",
      "[[module]]",
      'name = "drop"',
      `path = "${dir}/drop"`,
      "anonymous_write = true",
      "[[module]]",
      'name = "hidden"',
      `path = "${dir}/hidden"`,
      'users = ["alice"]',
      "list = false",
    ].join("\n") + "\n";
    const daemon = await startDaemonWithConfig(dir, toml);
    const host = daemon.address;
    const as = (who: { path: string }) => ({ env: { BLIT_IDENTITY: who.path } });
    const anonymousHome = `${dir}/anon-home`;
    await Deno.mkdir(anonymousHome);
    const anonymous = { env: { XDG_CONFIG_HOME: anonymousHome } };
    try {
      await t.step("a listed key is accepted", async () => {
        succeeded(await runBlit(["copy", `${dir}/src/`, `${host}:/photos/`], as(alice)));
        deepStrictEqual(
          Object.keys(await readTree(`${dir}/photos`)).sort(),
          ["a.txt", "sub", "sub/b.txt"],
        );
        equal(await Deno.readTextFile(`${dir}/photos/sub/b.txt`), "beta");
      });

      await t.step("wrong key, unknown user and unlisted user: the same words", async () => {
        const wrongKey = await runBlit(
          ["copy", `${dir}/src/`, `${host}:/photos/x/`, "--user", "alice"],
          as(mallory),
        );
        const unknownUser = await runBlit(
          ["copy", `${dir}/src/`, `${host}:/photos/x/`, "--user", "nobody"],
          as(mallory),
        );
        const unlisted = await runBlit(["copy", `${dir}/src/`, `${host}:/photos/x/`], as(mallory));
        const unknownModule = await runBlit(["copy", `${dir}/src/`, `${host}:/nope/x/`], as(bob));
        const notAllowed = await runBlit(["copy", `${dir}/src/`, `${host}:/hidden/x/`], as(bob));
        for (const result of [wrongKey, unknownUser, unlisted, unknownModule, notAllowed]) {
          failed(result, /permission denied/);
        }
        const words = (r: RunResult) => lastLine(r).replace(/\/(photos|nope|hidden)\//, "/M/");
        equal(words(wrongKey), words(unknownUser));
        equal(words(wrongKey), words(unlisted));
        equal(words(wrongKey), words(unknownModule));
        equal(words(wrongKey), words(notAllowed));
        ok(!(await exists(`${dir}/photos/x`)));
      });

      await t.step("a :ro user can pull but not push or rm", async () => {
        succeeded(await runBlit(["copy", `${host}:/photos/`, `${dir}/bob-pull/`], as(bob)));
        equal(await Deno.readTextFile(`${dir}/bob-pull/a.txt`), "alpha");
        failed(
          await runBlit(["copy", `${dir}/src/`, `${host}:/photos/bob/`], as(bob)),
          /read-only/,
        );
        failed(
          await runUtils(["rm", "--yes", `${host}:/photos/a.txt`], as(bob)),
          /read-only|permission denied/,
        );
        ok(await exists(`${dir}/photos/a.txt`));
        ok(!(await exists(`${dir}/photos/bob`)));
        succeeded(await runUtils(["rm", "--yes", `${host}:/photos/sub/b.txt`], as(alice)));
        ok(!(await exists(`${dir}/photos/sub/b.txt`)));
      });

      await t.step("a module without users is anonymous and read-only", async () => {
        succeeded(await runBlit(["copy", `${host}:/pub/`, `${dir}/anon-pull/`], anonymous));
        equal(await Deno.readTextFile(`${dir}/anon-pull/readme.txt`), "public");
        failed(
          await runBlit(["copy", `${dir}/src/`, `${host}:/pub/in/`], anonymous),
          /read-only/,
        );
        failed(
          await runBlit(["copy", `${dir}/src/`, `${host}:/pub/in/`], as(alice)),
          /read-only/,
        );
        ok(!(await exists(`${dir}/pub/in`)));
        failed(
          await runBlit(["copy", `${host}:/photos/`, `${dir}/anon-photos/`], anonymous),
          /permission denied/,
        );
      });

      await t.step("anonymous_write allows writes, with a warning at start", async () => {
        succeeded(await runBlit(["copy", `${dir}/src/`, `${host}:/drop/`], anonymous));
        equal(await Deno.readTextFile(`${dir}/drop/a.txt`), "alpha");
        match(daemon.log(), /warning: module "drop" allows anonymous writes/);
      });

      await t.step("listings show listed modules, and hidden ones to their users", async () => {
        const anon = await runBlit(["list", "--json", host], anonymous);
        succeeded(anon);
        const names = (r: RunResult) =>
          (JSON.parse(r.stdout) as { modules: { name: string }[] }).modules.map((m) => m.name);
        deepStrictEqual(names(anon), ["drop", "photos", "pub"]);
        const asAlice = await runBlit(["list", "--json", host], as(alice));
        deepStrictEqual(names(asAlice), ["drop", "hidden", "photos", "pub"]);
        match(JSON.parse(asAlice.stdout).fingerprint, /^SHA256:/);
        failed(await runUtils(["ls", `${host}:/hidden/`], as(bob)), /permission denied/);
        succeeded(await runUtils(["ls", `${host}:/hidden/`], as(alice)));
      });

      await t.step("the audit log has a line for a push, a pull, an rm and a refusal", async () => {
        const lines = await auditLines(audit);
        for (const line of lines) {
          deepStrictEqual(Object.keys(line), [
            "time",
            "peer",
            "user",
            "module",
            "operation",
            "path",
            "files",
            "bytes",
            "outcome",
            "duration_ms",
            "error",
          ]);
          match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
          match(String(line.peer), /^127\.0\.0\.1:\d+$/);
        }
        const find = (f: (l: Record<string, unknown>) => boolean) => lines.find(f);
        const push = find((l) => l.operation === "push" && l.user === "alice");
        ok(push, "push line");
        equal(push.module, "photos");
        equal(push.outcome, "ok");
        equal(push.files, 2);
        equal(push.bytes, 9);
        const pull = find((l) => l.operation === "pull" && l.user === "bob");
        ok(pull, "pull line");
        equal(pull.outcome, "ok");
        const rm = lines.findLast((l) => l.operation === "rm" && l.user === "alice");
        ok(rm, "rm line");
        equal(rm.path, "sub/b.txt");
        equal(rm.files, 1);
        const refusal = find((l) => l.outcome === "refused" && l.user === "anonymous");
        ok(refusal, "refusal line");
        match(String(refusal.error), /permission denied/);
        match(daemon.log(), /\d{4}-\d\d-\d\dT\S+ 127\.0\.0\.1:\d+ alice push photos:\//);
      });

      await t.step("control characters in a path are escaped in both logs", async () => {
        await runUtils(["ls", `${host}:/photos/evil\u001b[31m\u0085name`], as(alice));
        const raw = await Deno.readTextFile(audit);
        ok(
          // deno-lint-ignore no-control-regex
          !/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(raw),
          "raw control chars in audit log",
        );
        ok(raw.includes("evil\\u001b[31m\\u0085name"));
        ok(!daemon.log().includes("\u001b[31m"));
      });
    } finally {
      await daemon.stop();
    }
  });
});

Deno.test("blitd --root alone exports read-only", async () => {
  await withTempDir(async (dir) => {
    await makeTree(`${dir}/root`, { "r.txt": "root file" });
    await makeTree(`${dir}/src`, { "a.txt": "alpha" });
    const { certPath, keyPath } = await testServerCertificate();
    const daemon = await startDaemonWithConfig(dir, "", {}, [
      "--root",
      `${dir}/root`,
      "--bind",
      "127.0.0.1",
      "--port",
      "0",
      "--no-mdns",
      "--state-dir",
      `${dir}/state`,
      "--tls-cert",
      certPath,
      "--tls-key",
      keyPath,
    ]);
    try {
      succeeded(await runBlit(["copy", `${daemon.address}://r.txt`, `${dir}/got.txt`]));
      equal(await Deno.readTextFile(`${dir}/got.txt`), "root file");
      failed(await runBlit(["copy", `${dir}/src/`, `${daemon.address}://in/`]), /read-only/);
      ok(!(await exists(`${dir}/root/in`)));
    } finally {
      await daemon.stop();
    }
  });
});

Deno.test("blitd connection rules: hosts_deny, caps, the hello deadline", async (t) => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/m`);
    await makeTree(`${dir}/src`, { "a.txt": "alpha" });
    await t.step("hosts_deny closes the connection before anything is read", async () => {
      const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/m` }], [
        'hosts_deny = ["127.0.0.0/8"]',
      ]);
      try {
        const socket = await rawConnect(daemon.port);
        const took = await closedWithin(socket, 3_000);
        ok(took !== null && took < 2_000, `closed after ${took} ms`);
        failed(await runBlit(["list", daemon.address]), /Cannot/);
        ok(!(await exists(`${dir}/m/a.txt`)));
        await new Promise((resolve) => setTimeout(resolve, 300));
        match(daemon.log(), /refused: address not allowed/);
      } finally {
        await daemon.stop();
      }
    });

    await t.step("per-host and global caps refuse excess connections at once", async () => {
      const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/m` }], [
        "max_connections = 3",
        "max_connections_per_host = 2",
      ]);
      const held: Socket[] = [];
      try {
        held.push(await rawConnect(daemon.port), await rawConnect(daemon.port));
        // A third from the same host is refused at once…
        const third = await rawConnect(daemon.port);
        const took = await closedWithin(third, 3_000);
        ok(took !== null && took < 2_000, `third closed after ${took} ms`);
        // …one from another address still gets in (the global cap is 3)…
        const other = await rawConnect(daemon.port, "127.0.0.2");
        held.push(other);
        // …and then the daemon is full for everyone.
        const fourth = await rawConnect(daemon.port, "127.0.0.3");
        const tookFourth = await closedWithin(fourth, 3_000);
        ok(tookFourth !== null && tookFourth < 2_000, `fourth closed after ${tookFourth} ms`);
        await new Promise((resolve) => setTimeout(resolve, 300)); // the log travels through a pipe
        match(daemon.log(), /max_connections_per_host reached/);
        match(daemon.log(), /max_connections reached/);
        for (const socket of held.splice(0)) socket.destroy();
        await new Promise((resolve) => setTimeout(resolve, 200));
        succeeded(await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/m/`]));
      } finally {
        for (const socket of held) socket.destroy();
        await daemon.stop();
      }
    });

    await t.step("an idle connection is closed within 10 s while others are served", async () => {
      const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/m` }]);
      try {
        const idle = await rawConnect(daemon.port);
        const closing = closedWithin(idle, 15_000);
        succeeded(await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/m/served/`]));
        equal(await Deno.readTextFile(`${dir}/m/served/a.txt`), "alpha");
        const took = await closing;
        ok(took !== null && took <= 10_500, `idle connection closed after ${took} ms`);
        ok(took > 5_000, `closed too early (${took} ms)`);
      } finally {
        await daemon.stop();
      }
    });
  });
});

Deno.test("known hosts: first contact recorded, a changed certificate refused, forget recovers", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/m`);
    await makeTree(`${dir}/src`, { "a.txt": "alpha" });
    const home = `${dir}/home`;
    await Deno.mkdir(`${home}/blit`, { recursive: true });
    const { path: keyPath } = await testClientKey();
    await Deno.copyFile(keyPath, `${home}/blit/id_ed25519`);
    await Deno.chmod(`${home}/blit/id_ed25519`, 0o600);
    const env = { env: { XDG_CONFIG_HOME: home } };
    const first = await startDaemon(dir, [{ name: "m", path: `${dir}/m` }]);
    const port = first.port;
    let expected = "";
    try {
      const result = await runBlit(["list", first.address], env);
      succeeded(result);
      match(result.stderr, /is a new host; its certificate is SHA256:/);
      const knownHosts = await Deno.readTextFile(`${home}/blit/known_hosts`);
      match(knownHosts, new RegExp(`^127\\.0\\.0\\.1:${port} SHA256:`, "m"));
      expected = knownHosts.split(" ")[1] ?? "";
      const again = await runBlit(["list", first.address], env);
      succeeded(again);
      ok(!again.stderr.includes("new host"), again.stderr);
    } finally {
      await first.stop();
    }
    // The same port, another certificate.
    const other = await generateServerCertificate();
    await Deno.writeTextFile(`${dir}/other-cert.pem`, other.certPem);
    await Deno.writeTextFile(`${dir}/other-key.pem`, other.keyPem, { mode: 0o600 });
    const otherFingerprint = await certificateFingerprint(pemToDer(other.certPem));
    const onPort = await startDaemon(dir, [{ name: "m", path: `${dir}/m` }], [
      `port = ${port}`,
      `tls_cert = "${dir}/other-cert.pem"`,
      `tls_key = "${dir}/other-key.pem"`,
    ]);
    try {
      const refused = await runBlit(["copy", `${dir}/src/`, `${onPort.address}:/m/`], env);
      failed(refused, /Cannot trust 127\.0\.0\.1:\d+/);
      match(refused.stderr, new RegExp(expected.replace(/[+/]/g, "\\$&")));
      match(refused.stderr, new RegExp(otherFingerprint.replace(/[+/]/g, "\\$&")));
      match(refused.stderr, /blit known-hosts forget 127\.0\.0\.1:\d+/);
      equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);
      ok(!(await exists(`${dir}/m/a.txt`)));
      succeeded(await runBlit(["known-hosts", "forget", onPort.address], env));
      const recovered = await runBlit(["copy", `${dir}/src/`, `${onPort.address}:/m/`], env);
      succeeded(recovered);
      match(recovered.stderr, /new host/);
      equal(await Deno.readTextFile(`${dir}/m/a.txt`), "alpha");
    } finally {
      await onPort.stop();
    }
  });
});

/** A CA and a leaf it signed for `names`. */
async function caAndLeaf(
  names: string[],
  issuer?: { caPem: string; caKeys: CryptoKeyPair; ca: x509.X509Certificate },
): Promise<
  {
    caPem: string;
    certPem: string;
    keyPem: string;
    caKeys: CryptoKeyPair;
    ca: x509.X509Certificate;
  }
> {
  x509.cryptoProvider.set(crypto);
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const caKeys = issuer?.caKeys ??
    await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  const ca = issuer?.ca ?? await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=blit test CA",
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: alg,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  const leafKeys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "02",
    subject: "CN=blitd",
    issuer: ca.subject,
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: alg,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => ({ type: /^\d/.test(n) ? "ip" as const : "dns" as const, value: n })),
      ),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", leafKeys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${
    pkcs8.toBase64().match(/.{1,64}/g)?.join("\n")
  }\n-----END PRIVATE KEY-----\n`;
  return { caPem: ca.toString("pem"), certPem: leaf.toString("pem"), keyPem, caKeys, ca };
}

Deno.test("--tls-ca verifies an administrator's chain and host name instead of pinning", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/m`);
    await makeTree(`${dir}/src`, { "a.txt": "alpha" });
    const { caPem, certPem, keyPem } = await caAndLeaf(["127.0.0.1"]);
    await Deno.writeTextFile(`${dir}/ca.pem`, caPem);
    await Deno.writeTextFile(`${dir}/cert.pem`, certPem);
    await Deno.writeTextFile(`${dir}/key.pem`, keyPem, { mode: 0o600 });
    const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/m` }], [
      `tls_cert = "${dir}/cert.pem"`,
      `tls_key = "${dir}/key.pem"`,
    ]);
    const hosts = `${dir}/known_hosts`;
    try {
      const result = await runBlit([
        "copy",
        `${dir}/src/`,
        `${daemon.address}:/m/`,
        "--tls-ca",
        `${dir}/ca.pem`,
        "--known-hosts",
        hosts,
      ]);
      succeeded(result);
      equal(await Deno.readTextFile(`${dir}/m/a.txt`), "alpha");
      ok(!(await exists(hosts)), "CA mode records nothing");
      // Another CA: refused.
      const stranger = await caAndLeaf(["127.0.0.1"]);
      await Deno.writeTextFile(`${dir}/other-ca.pem`, stranger.caPem);
      failed(
        await runBlit(["list", daemon.address, "--tls-ca", `${dir}/other-ca.pem`]),
        /Cannot/,
      );
    } finally {
      await daemon.stop();
    }
    // The right CA, the wrong name: the certificate names another address.
    const ca = await caAndLeaf(["127.0.0.1"]);
    const misnamed = await caAndLeaf(["10.9.9.9"], ca);
    await Deno.writeTextFile(`${dir}/ca2.pem`, ca.caPem);
    await Deno.writeTextFile(`${dir}/cert2.pem`, misnamed.certPem);
    await Deno.writeTextFile(`${dir}/key2.pem`, misnamed.keyPem, { mode: 0o600 });
    const wrongName = await startDaemon(dir, [{ name: "m", path: `${dir}/m` }], [
      `tls_cert = "${dir}/cert2.pem"`,
      `tls_key = "${dir}/key2.pem"`,
    ]);
    try {
      failed(
        await runBlit(["list", wrongName.address, "--tls-ca", `${dir}/ca2.pem`]),
        /Cannot/,
      );
    } finally {
      await daemon.stop();
    }
  });
});

Deno.test("a private key readable by group or others is refused with one line", async () => {
  await withTempDir(async (dir) => {
    const k = await key(dir, "loose");
    await Deno.chmod(k.path, 0o644);
    const result = await runBlit(["list", "127.0.0.1:9", "--identity", k.path]);
    failed(result, /readable by group or others/);
    match(result.stderr, /chmod 600/);
    equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  });
});

/** A TCP proxy that forwards `listen` → `target` and records both directions. */
function recordingProxy(
  listenHost: string,
  listenPort: number,
  targetPort: number,
): Promise<{ bytes: () => Buffer; close: () => void; port: number }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = netConnect({ host: "127.0.0.1", port: targetPort, allowHalfOpen: true });
    sockets.add(client).add(upstream);
    client.on("data", (d: Buffer) => chunks.push(Buffer.from(d)));
    upstream.on("data", (d: Buffer) => chunks.push(Buffer.from(d)));
    // Half-closes pass through (pipe ends the other side after the last byte); only errors
    // tear both down.
    client.pipe(upstream).pipe(client);
    const fail = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", fail);
    upstream.on("error", fail);
  });
  return new Promise((resolve) => {
    server.listen(listenPort, listenHost, () => {
      const address = server.address();
      resolve({
        bytes: () => Buffer.concat(chunks),
        close: () => {
          for (const s of sockets) s.destroy();
          server.close();
        },
        port: typeof address === "object" && address ? address.port : 0,
      });
    });
  });
}

/** The TCP ports the daemon's server process listens on (control and data plane). */
async function listeningPorts(): Promise<number[]> {
  const out = await new Deno.Command("ss", { args: ["-Hltn"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .map((line) => /127\.0\.0\.1:(\d+)/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined).map(Number);
}

Deno.test("wire check: with TLS a sniffer sees no file contents or paths; without, it does", async (t) => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/m`);
    const secret = "SECRET-CONTENT-" + "x".repeat(40);
    const name = "secret-name-7f3a.txt";
    await makeTree(`${dir}/src`, { [name]: secret, "big.bin": secret.repeat(5000) });
    for (const tls of [true, false]) {
      await t.step(`tls = ${tls}`, async () => {
        const before = new Set(await listeningPorts());
        const daemon = await startDaemon(
          dir,
          [{ name: "m", path: `${dir}/m` }],
          tls ? [] : ["tls = false"],
        );
        const proxies: Awaited<ReturnType<typeof recordingProxy>>[] = [];
        try {
          // The control port and the data port, each behind a recording proxy on 127.0.0.2.
          const ports = (await listeningPorts()).filter((p) => !before.has(p));
          ok(ports.includes(daemon.port), `ports ${ports}`);
          for (const port of ports) proxies.push(await recordingProxy("127.0.0.2", port, port));
          const flags = tls ? [] : ["--no-tls"];
          for (const route of ["push", "pull"]) {
            // Empty the module, keeping its directory: the daemon's mount namespace holds the
            // directory itself (a replaced one would not be seen until a restart).
            for (const entry of await Array.fromAsync(Deno.readDir(`${dir}/m`))) {
              await Deno.remove(`${dir}/m/${entry.name}`, { recursive: true });
            }
            if (route === "pull") await Deno.copyFile(`${dir}/src/${name}`, `${dir}/m/${name}`);
            const args = route === "push"
              ? ["copy", `${dir}/src/`, `127.0.0.2:${daemon.port}:/m/`]
              : ["copy", `127.0.0.2:${daemon.port}:/m/`, `${dir}/pulled-${tls}/`];
            const result = await runBlit([...args, ...flags]);
            succeeded(result);
            if (!tls) match(result.stderr, /not encrypted/);
          }
          equal(await Deno.readTextFile(`${dir}/pulled-${tls}/${name}`), secret);
          const wire = Buffer.concat(proxies.map((p) => p.bytes()));
          ok(wire.length > 100_000, `the proxies saw ${wire.length} bytes`);
          const sawContent = wire.includes(Buffer.from("SECRET-CONTENT-"));
          const sawName = wire.includes(Buffer.from("secret-name-7f3a"));
          if (tls) {
            ok(!sawContent, "file contents in clear");
            ok(!sawName, "path in clear");
          } else {
            ok(sawContent && sawName, "the sniffer works: plaintext is visible");
          }
        } finally {
          for (const proxy of proxies) proxy.close();
          await daemon.stop();
        }
      });
    }
  });
});

Deno.test("a man in the middle with another certificate is refused", async (t) => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/m`);
    await makeTree(`${dir}/src`, { "a.txt": "alpha" });
    const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/m` }]);
    // The proxy terminates TLS with its own certificate and re-encrypts to the daemon.
    const mitm = await generateServerCertificate();
    const tls = await import("node:tls");
    const sockets = new Set<Socket>();
    const server = tls.createServer({ cert: mitm.certPem, key: mitm.keyPem }, (client) => {
      const upstream = tls.connect({
        host: "127.0.0.1",
        port: daemon.port,
        rejectUnauthorized: false,
      });
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.2", resolve));
    const address = server.address();
    const proxyPort = typeof address === "object" && address ? address.port : 0;
    try {
      await t.step("pinned: the client refuses the proxy's certificate", async () => {
        // Pin the daemon's real certificate for the proxy's address, as after a first contact.
        const { certPath } = await testServerCertificate();
        const der = pemToDer(await Deno.readTextFile(certPath));
        const hosts = `${dir}/pinned_hosts`;
        await Deno.writeTextFile(
          hosts,
          `127.0.0.2:${proxyPort} ${await certificateFingerprint(der)} ${der.toBase64()}\n`,
        );
        const result = await runBlit(
          ["copy", `${dir}/src/`, `127.0.0.2:${proxyPort}:/m/`, "--known-hosts", hosts],
        );
        failed(result, /Cannot trust 127\.0\.0\.2:\d+/);
        ok(!(await exists(`${dir}/m/a.txt`)));
      });
      await t.step("first contact with the proxy: the key proof does not carry over", async () => {
        const result = await runBlit(
          ["copy", `${dir}/src/`, `127.0.0.2:${proxyPort}:/m/`, "--known-hosts", `${dir}/fresh`],
        );
        failed(result, /Cannot trust|permission denied/);
        ok(!(await exists(`${dir}/m/a.txt`)));
      });
      succeeded(await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/m/`]));
      equal(await Deno.readTextFile(`${dir}/m/a.txt`), "alpha");
      equal(TEST_USER, "tester");
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
      await daemon.stop();
    }
  });
});
