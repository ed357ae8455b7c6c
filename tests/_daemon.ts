/**
 * Starts a real `blitd` for tests: a temp config, a free port on 127.0.0.1, `--no-mdns`; stopped
 * by its own process id.
 *
 * @module
 */

import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ClientFrame, OpenSchema, ServerFrame } from "../proto/gen/blit_pb.ts";
import { type ConnectionSecurity, openSecureChannel } from "../core/client_security.ts";
import { parseHostAddress } from "../core/endpoint.ts";
import { PROTOCOL_VERSION } from "../core/transport/protocol.ts";
import type { FrameConn } from "../core/transport/frame_conn.ts";
import { openTransferStream } from "../core/session/remote.ts";
import { type StreamFramePort, streamFramePort } from "../core/transport/stream_port.ts";
import { parseDaemonConfig } from "../core/config.ts";
import { writeIdentity } from "../core/identity.ts";
import { forgetKnownHost, recordKnownHost } from "../core/known_hosts.ts";
import { certificateFingerprint, generateServerCertificate, pemToDer } from "../core/tls_cert.ts";
import { computeDaemonPermissions } from "../daemon/permissions.ts";
import { REPO, testConfigHome, withTempDir } from "./_helpers.ts";
import { CLIENT_FRAME_CODEC } from "../core/transport/frame_tables.ts";

/** The user the test daemons know, whose key the test clients use by default. */
export const TEST_USER = "tester";

let clientKey: Promise<{ path: string; publicLine: string }> | null = null;

/**
 * The test clients' key: the default identity of the tests' private config directory, so that
 * every `blit` the tests run (and the library in this process) signs in as {@linkcode TEST_USER}.
 * @returns Its path and public line.
 */
export function testClientKey(): Promise<{ path: string; publicLine: string }> {
  clientKey ??= (async () => {
    const path = `${testConfigHome()}/blit/id_ed25519`;
    const written = await writeIdentity(path, { comment: "tester@blit-tests", force: true });
    return { path, publicLine: written.publicLine };
  })();
  return clientKey;
}

let serverCert: Promise<{ certPath: string; keyPath: string }> | null = null;

/**
 * One certificate for every test daemon of this process: daemons reuse ports, and the clients
 * pin the certificate per `host:port` in the tests' known-hosts file.
 * @returns The PEM files.
 */
export function testServerCertificate(): Promise<{ certPath: string; keyPath: string }> {
  serverCert ??= (async () => {
    const dir = `${testConfigHome()}/test-tls`;
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const { certPem, keyPem } = await generateServerCertificate();
    const certPath = `${dir}/cert.pem`;
    const keyPath = `${dir}/key.pem`;
    await Deno.writeTextFile(certPath, certPem);
    await Deno.writeTextFile(keyPath, keyPem, { mode: 0o600 });
    return { certPath, keyPath };
  })();
  return serverCert;
}

/** A module to export. */
export interface TestModule {
  /** Module name. */
  name: string;
  /** Directory to export. */
  path: string;
  /** Read-only export. */
  readOnly?: boolean;
  /**
   * Who may use it (`"name"` or `"name:ro"`); `null` for an anonymous module.
   * @default {[TEST_USER]}
   */
  users?: string[] | null;
  /** `anonymous_write = true` (with `users: null`). */
  anonymousWrite?: boolean;
  /** `list = false` hides it. */
  list?: boolean;
  /** `keep_special_bits = true`: pushed files keep setuid, setgid and sticky bits. */
  keepSpecialBits?: boolean;
  /** `keep_owner = true`: owners of pushed files are applied, of pulled ones sent (as root). */
  keepOwner?: boolean;
}

/** A running test daemon. */
export interface TestDaemon {
  /** The gRPC port. */
  port: number;
  /** `127.0.0.1:PORT` for remote paths. */
  address: string;
  /** Process id of the launcher (the server runs as one of its descendants). */
  pid: number;
  /** Everything the daemon printed on stderr so far. */
  log: () => string;
  /** Whether the launcher process is still running. */
  running: () => boolean;
  /** Stops it (SIGTERM to the launcher, which stops the server) and waits. */
  stop: () => Promise<void>;
}

/**
 * The flags of the `blitd` task, with relative paths made absolute.
 * @returns `deno run` flags.
 */
export function launcherFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  return (config.tasks.blitd ?? "").split(/\s+/).filter((w) => w.startsWith("--"));
}

/**
 * Starts `blitd` with a temp config exporting `modules`.
 * @param dir A temp directory for the config.
 * @param modules The exports.
 * @param extra Extra `[daemon]` TOML lines.
 * @param env Extra environment for the launcher (e.g. `BLITD_SERVER_ENTRY` for a test build).
 * @returns The running daemon.
 */
export async function startDaemon(
  dir: string,
  modules: TestModule[],
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<TestDaemon> {
  const { publicLine } = await testClientKey();
  const { certPath, keyPath } = await testServerCertificate();
  const mentions = (key: string): boolean => extra.some((line) => line.startsWith(`${key} `));
  const lines = ["[daemon]", ...extra];
  if (!mentions("bind")) lines.push('bind = "127.0.0.1"');
  if (!mentions("port")) lines.push("port = 0");
  if (!mentions("no_mdns")) lines.push("no_mdns = true");
  if (!mentions("tls_cert") && !extra.includes("tls = false")) {
    lines.push(`tls_cert = "${certPath}"`, `tls_key = "${keyPath}"`);
  }
  if (!mentions("state_dir")) lines.push(`state_dir = "${dir}/state-${crypto.randomUUID()}"`);
  lines.push("[[user]]", `name = "${TEST_USER}"`, `public_key = "${publicLine}"`);
  for (const m of modules) {
    lines.push("[[module]]", `name = "${m.name}"`, `path = "${m.path}"`);
    if (m.readOnly) lines.push("read_only = true");
    const users = m.users === undefined ? [TEST_USER] : m.users;
    if (users !== null) lines.push(`users = ${JSON.stringify(users)}`);
    if (m.anonymousWrite) lines.push("anonymous_write = true");
    if (m.list === false) lines.push("list = false");
    if (m.keepSpecialBits) lines.push("keep_special_bits = true");
    if (m.keepOwner) lines.push("keep_owner = true");
  }
  const daemon = await startDaemonWithConfig(dir, lines.join("\n") + "\n", env);
  if (!mentions("tls_cert") && !extra.includes("tls = false")) {
    // As after a first contact: the tests' clients know this daemon (no new-host notice).
    const certificate = pemToDer(await Deno.readTextFile(certPath));
    await recordKnownHost(`${testConfigHome()}/blit/known_hosts`, {
      host: "127.0.0.1",
      port: daemon.port,
      certificate,
      fingerprint: await certificateFingerprint(certificate),
    });
  }
  return daemon;
}

/**
 * Starts `blitd` with a given configuration text.
 * @param dir A temp directory for the config file.
 * @param toml The configuration.
 * @param env Extra environment for the launcher.
 * @param args Extra `blitd` flags.
 * @returns The running daemon.
 */
export async function startDaemonWithConfig(
  dir: string,
  toml: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<TestDaemon> {
  const config = `${dir}/blitd-${crypto.randomUUID()}.toml`;
  await Deno.writeTextFile(config, toml);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...launcherFlags(), `${REPO}/daemon/main.ts`, "--config", config, ...args],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  let running = true;
  const status = child.status.then((s) => {
    running = false;
    return s;
  });
  let err = "";
  const errDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (c) => void (err += c) }),
  );
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = Date.now() + 30_000;
  let port = 0;
  while (port === 0) {
    if (Date.now() > deadline || !running) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      throw new Error(`blitd did not start:\n${out}\n${err}`);
    }
    const { value, done } = await reader.read();
    if (done) continue;
    out += value;
    const match = out.match(/blitd: listening on [^\s]+:(\d+)/);
    if (match) port = Number(match[1]);
  }
  const outDone = (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  // A port an earlier test's daemon had: its pin no longer applies (`startDaemon` records anew).
  await forgetKnownHost(`${testConfigHome()}/blit/known_hosts`, "127.0.0.1", port);
  return {
    port,
    address: `127.0.0.1:${port}`,
    pid: child.pid,
    log: () => err,
    running: () => running,
    stop: async () => {
      if (running) {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      await status;
      await Promise.allSettled([errDone, outDone]);
    },
  };
}

/**
 * Whether the daemon's computed sandbox allows `statfs` (needed by DiskFree).
 * @returns `true` when the server process may call statfs.
 */
export function daemonAllowsStatfs(): boolean {
  const config = parseDaemonConfig("[[module]]\nname = 'x'\npath = '/srv/x'\n");
  const flags = computeDaemonPermissions(config, {
    serverEntry: `${REPO}/daemon/server.ts`,
    repoRoot: REPO,
    mdns: false,
  });
  return flags.some((f) =>
    f === "--allow-sys" || (f.startsWith("--allow-sys=") && /statfs/.test(f))
  );
}

/** A raw transfer session with a daemon, signed in as the test user, up to the Open. */
export interface RawSession {
  /** Closes the connection at once. */
  client: { close(): void };
  /** The session's control stream. */
  call: FrameConn<ClientFrame, ServerFrame>;
  /** The call as a frame port. */
  port: StreamFramePort<ServerFrame>;
  /** Sends the Open (with the test user's proof over the daemon's challenge). */
  open: (open: MessageInitShape<typeof OpenSchema>) => Promise<void>;
}

/**
 * Opens a raw transfer session the way the CLI does (pinned TLS, Hello, Challenge), for tests
 * that then play a client frame by frame.
 * @param address `127.0.0.1:PORT`.
 * @param security How to trust the daemon (`{ tls: false }` for a `tls = false` one).
 * @returns The session, before its Open.
 */
export async function openRawSession(
  address: string,
  security: ConnectionSecurity = {},
): Promise<RawSession> {
  const channel = await openSecureChannel(parseHostAddress(address), security, () => {});
  const call = await openTransferStream(channel, 10_000);
  const client = { close: () => call.destroy() };
  const port = streamFramePort<ClientFrame, ServerFrame>(call, CLIENT_FRAME_CODEC, {
    idleTimeoutMs: 10_000,
  });
  await port.sendRaw({
    case: "hello",
    value: { protocolVersion: PROTOCOL_VERSION, clientName: "test" },
  });
  const challenge = await port.nextRaw(10_000);
  if (challenge?.case !== "challenge") {
    client.close();
    throw new Error(`expected a challenge, got ${challenge?.case}`);
  }
  const open = async (value: MessageInitShape<typeof OpenSchema>): Promise<void> => {
    const proof = await channel.prove({
      purpose: "transfer",
      nonce: challenge.value.nonce,
      module: value.module ?? "",
      method: "",
    });
    await port.sendRaw({ case: "open", value: { ...value, ...(proof ?? {}) } });
  };
  return { client, call, port, open };
}

/**
 * Runs `fn` with a temp directory holding `mod/` and a real daemon exporting it as module `mod`,
 * stopped afterwards.
 * @param fn The test.
 * @param extra Extra `[daemon]` TOML lines.
 */
export async function withModuleDaemon(
  fn: (dir: string, daemon: TestDaemon) => Promise<void>,
  extra: string[] = [],
): Promise<void> {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/mod`);
    const daemon = await startDaemon(dir, [{ name: "mod", path: `${dir}/mod` }], extra);
    try {
      await fn(dir, daemon);
    } finally {
      await daemon.stop();
    }
  });
}

/**
 * Whether a TCP connection to a port of 127.0.0.1 is accepted (the connection is closed at once).
 * @param port The port.
 * @returns `true` when something listens there.
 */
export async function acceptsConnections(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}
