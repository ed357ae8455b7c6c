import {
  deepStrictEqual,
  doesNotMatch,
  equal,
  match,
  ok,
  rejects,
  throws,
} from "node:assert/strict";
import type { DaemonConfig } from "../core/config.ts";
import { parseBlitdArgs, parseServerConfig, serializeServerConfig } from "../daemon/args.ts";
import { EXIT_NO_RESTART, Supervisor } from "../daemon/supervisor.ts";
import { encodeHandoff } from "../daemon/handoff.ts";
import { assertNoStack, decodeOutput, REPO, withTempDir } from "./_helpers.ts";

const FAKE_SERVER = `${REPO}/tests/fixtures/fake_server.ts`;
const DEFAULT_LAUNCHER_FLAGS = ["--allow-read", "--allow-run", "--allow-env"];

/** The flags of the `blitd` task in deno.json (the default ones until the task exists). */
function launcherFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  const task = config.tasks.blitd;
  if (task === undefined) return DEFAULT_LAUNCHER_FLAGS;
  return task.split(/\s+/).filter((w) => w.startsWith("--")).map((w) =>
    w.replace("=./", `=${REPO}/`)
  );
}

function launcherCommand(
  args: string[],
  env: Record<string, string> = {},
  extraFlags: string[] = [],
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...launcherFlags(), ...extraFlags, `${REPO}/daemon/main.ts`, ...args],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", BLITD_SERVER_ENTRY: FAKE_SERVER, ...env },
  });
}

async function runLauncher(
  args: string[],
  extraFlags: string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return decodeOutput(await launcherCommand(args, {}, extraFlags).output());
}

/**
 * Runs the launcher like {@linkcode runLauncher}, but stops it (SIGTERM) after `ms`: a
 * configuration it wrongly accepts would otherwise run a server until the test times out.
 */
async function runLauncherWithin(
  args: string[],
  ms: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = launcherCommand(args).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  }, ms);
  try {
    return decodeOutput(await child.output());
  } finally {
    clearTimeout(timer);
  }
}

/** Collects a stream's text in the background. */
function collect(stream: ReadableStream<Uint8Array>): { text: () => string; done: Promise<void> } {
  let text = "";
  const done = stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        text += chunk;
      },
    }),
  );
  return { text: () => text, done };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function count(text: string, regexp: RegExp): number {
  return text.match(new RegExp(regexp.source, "gm"))?.length ?? 0;
}

async function events(dir: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${dir}/events`).catch(() => "");
  return text.split("\n").filter((line) => line !== "");
}

/** Tells whether a process runs (a zombie counts as gone); /proc needs --allow-all in Deno. */
async function alive(pid: number): Promise<boolean> {
  const { code, stdout } = await new Deno.Command("ps", {
    args: ["-o", "stat=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  return code === 0 && !new TextDecoder().decode(stdout).trim().startsWith("Z");
}

/** The warning blitd prints for the module `rw` of {@linkcode writeConfig}. */
/** What the launcher says when it generates the TLS certificate in `DIR/state`. */
const GENERATED = (dir: string): string => `blitd: generated a TLS certificate in ${dir}/state/tls`;

const RW_WARNING =
  'blitd: warning: module "rw" allows anonymous writes (anonymous_write = true): ' +
  "anyone who can reach this daemon can change it";

/**
 * Writes `config.toml` in `dir` with a module `rw` anyone may write and a read-only module
 * `ro`, and the state directory `state` (created: the launcher of the `blitd` task may not
 * create directories). These tests are about the launcher and its supervision of a fake
 * server, so they run without a mount namespace unless `daemon` names a `confinement`
 * (tests/confinement_test.ts tests the namespace with the real server).
 */
async function writeConfig(dir: string, daemon: string, modules?: string): Promise<string> {
  await Deno.mkdir(`${dir}/rw`, { recursive: true });
  await Deno.mkdir(`${dir}/ro`, { recursive: true });
  await Deno.mkdir(`${dir}/state`, { recursive: true });
  const path = `${dir}/config.toml`;
  await Deno.writeTextFile(
    path,
    `[daemon]\nbind = "127.0.0.1"\nport = 0\nno_mdns = true\nstate_dir = "state"\n${daemon}\n` +
      (daemon.includes("confinement") ? "" : `confinement = "none"\n`) +
      (modules ??
        `[[module]]\nname = "rw"\npath = "rw"\nanonymous_write = true\n` +
          `[[module]]\nname = "ro"\npath = "ro"\nread_only = true\n`),
  );
  return path;
}

function expectOneLineError(
  result: { code: number; stdout: string; stderr: string },
  code = 1,
): void {
  equal(result.code, code, result.stderr);
  equal(result.stdout, "");
  assertNoStack(result.stderr);
  equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
  match(result.stderr, /^blitd: Cannot /);
}

Deno.test("blitd: a configuration that cannot work stops start-up with one line and 78", async (t) => {
  await withTempDir(async (dir) => {
    await t.step("unknown key", async () => {
      const config = await writeConfig(dir, `colour = "blue"`);
      const result = await runLauncher(["--config", config]);
      expectOneLineError(result, EXIT_NO_RESTART);
      match(result.stderr, /unknown key "daemon\.colour"/);
    });
    await t.step("malformed values", async () => {
      for (
        const [line, pattern] of [
          [`hosts_allow = ["10.0.0.0/33"]`, /"daemon\.hosts_allow" entry "10\.0\.0\.0\/33"/],
          [`max_connections = 0`, /"daemon\.max_connections" must be an integer/],
          [`root_users = ["carol"]`, /names the user "carol", who is not declared/],
          [`tls = "yes"`, /"daemon\.tls" must be a boolean/],
        ] as const
      ) {
        const result = await runLauncher(["--config", await writeConfig(dir, line)]);
        expectOneLineError(result, EXIT_NO_RESTART);
        match(result.stderr, pattern);
      }
    });
    await t.step("TOML syntax error", async () => {
      const result = await runLauncher(["--config", await writeConfig(dir, "port = = 1")]);
      expectOneLineError(result, EXIT_NO_RESTART);
      match(result.stderr, /invalid TOML at line/);
    });
    await t.step("module path missing", async () => {
      const config = await writeConfig(
        dir,
        "",
        `[[module]]\nname = "gone"\npath = "${dir}/missing"\n`,
      );
      const result = await runLauncher(["--config", config]);
      expectOneLineError(result, EXIT_NO_RESTART);
      match(result.stderr, /module "gone" path .* does not exist/);
    });
    await t.step("no modules and no root", async () => {
      const config = await writeConfig(dir, "", "");
      const result = await runLauncher(["--config", config]);
      expectOneLineError(result, EXIT_NO_RESTART);
      match(result.stderr, /no modules configured and no root/);
    });
    await t.step("explicit config file missing", async () => {
      const result = await runLauncher(["--config", `${dir}/nope.toml`]);
      expectOneLineError(result, EXIT_NO_RESTART);
      match(result.stderr, /nope\.toml.*does not exist/);
    });
    await t.step("default config missing and no --root", async () => {
      try {
        await Deno.lstat("/etc/blit/config.toml");
        return; // A real default config exists on this machine.
      } catch { /* missing, as expected */ }
      const result = await runLauncher(["--print-permissions"]);
      expectOneLineError(result, EXIT_NO_RESTART);
      match(result.stderr, /no modules configured and no root/);
    });
    await t.step("values too large or absurd (issue #11)", async () => {
      const huge = "x".repeat(1_000_000); // the 1 MB motd
      const module = (extra: string): string =>
        `[[module]]\nname = "rw"\npath = "rw"\nanonymous_write = true\n${extra}\n`;
      for (
        const [daemon, modules, pattern] of [
          [`motd = "${huge}"`, undefined, /"daemon\.motd" is 1000000 bytes long, more than 4096/],
          ['motd = "\\u001b]0;owned\\u0007"', undefined, /"daemon\.motd" holds the control/],
          ["", module(`comment = "${"c".repeat(2000)}"`), /module "rw" comment is 2000 bytes/],
          ["", module("").replace('"rw"', `"${"n".repeat(100)}"`), /is 100 characters long/],
          [
            `hosts_allow = ${JSON.stringify(Array.from({ length: 2000 }, () => "10.0.0.0/8"))}`,
            undefined,
            /"daemon\.hosts_allow" has 2000 entries, more than 1024/,
          ],
          [`# ${huge}\n# ${huge}`, undefined, /the file is 2000\d+ bytes, more than 1048576/],
        ] as const
      ) {
        const config = await writeConfig(dir, daemon, modules);
        const result = await runLauncherWithin(["--config", config], 30_000);
        expectOneLineError(result, EXIT_NO_RESTART);
        match(result.stderr, pattern);
        ok(result.stderr.length < 400, `one short line, not the value: ${result.stderr.length}`);
      }
    });
    await t.step("a state directory the launcher may not create", async () => {
      const config = await writeConfig(dir, "", undefined);
      const result = await runLauncher(["--config", config, "--state-dir", `${dir}/new-state`], [
        `--deny-write=${dir}`,
      ]);
      expectOneLineError(result, EXIT_NO_RESTART);
      match(result.stderr, /^blitd: Cannot create state directory ".*new-state": .*mkdir -m 700/);
    });
  });
});

Deno.test("blitd: bad flags stop start-up with one line and exit 1", async (t) => {
  await withTempDir(async (dir) => {
    await t.step("bad flags", async () => {
      expectOneLineError(await runLauncher(["--port", "http"]));
      expectOneLineError(await runLauncher(["--frobnicate"]));
      expectOneLineError(await runLauncher(["--root", dir, "--bind", "nas.local"]));
      expectOneLineError(await runLauncher(["--root", dir, "--port", "70000"]));
      expectOneLineError(await runLauncher(["--root", dir, "--tls-cert", `${dir}/c.pem`]));
      expectOneLineError(await runLauncher(["--root", dir, "--no-tls", "--tls-key", "k"]));
      expectOneLineError(await runLauncher(["--root", dir, "--state-dir="]));
    });
    await t.step("server entry missing", async () => {
      const config = await writeConfig(dir, "");
      const { code, stdout, stderr } = await launcherCommand(["--config", config], {
        BLITD_SERVER_ENTRY: `${dir}/no_server.ts`,
      }).output();
      const decoder = new TextDecoder();
      expectOneLineError({ code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) });
    });
  });
});

Deno.test("blitd --print-permissions", async (t) => {
  await withTempDir(async (dir) => {
    const real = await Deno.realPath(dir);
    const forbidden = /--allow-run|--allow-ffi|--allow-all|(^|\s)-A(\s|$)/m;

    await t.step("writes only to writable modules, starts nothing", async () => {
      const config = await writeConfig(dir, `motd = "exit0"`);
      const result = await runLauncher(["--config", config, "--print-permissions"]);
      equal(result.code, 0, result.stderr);
      equal(result.stderr, "");
      match(result.stdout, new RegExp(`^--allow-write=${real}/rw$`, "m"));
      match(result.stdout, new RegExp(`^--allow-read=.*${real}/rw,${real}/ro$`, "m"));
      match(result.stdout, /^no mount namespace: confinement = "none"$/m);
      match(result.stdout, /^--no-prompt$/m);
      match(result.stdout, /^--allow-net=127\.0\.0\.1:0$/m);
      doesNotMatch(result.stdout, forbidden);
      const command = result.stdout.trimEnd().split("\n").at(-1) ?? "";
      match(command, / run --cached-only --no-prompt .*fake_server\.ts$/);
      deepStrictEqual(await events(`${real}/rw`), []);
    });
    await t.step("writes nothing for a read-only config", async () => {
      const config = await writeConfig(
        dir,
        "",
        `[[module]]\nname = "ro"\npath = "ro"\nread_only = true\n` +
          `[[module]]\nname = "anon"\npath = "rw"\n`,
      );
      const result = await runLauncher(["--config", config, "--print-permissions"]);
      equal(result.code, 0, result.stderr);
      doesNotMatch(result.stdout, /--allow-write/);
      doesNotMatch(result.stdout, forbidden);
    });
    await t.step("--print-permissions creates no state directory", async () => {
      const config = await writeConfig(dir, "");
      const result = await runLauncher([
        "--config",
        config,
        "--state-dir",
        `${real}/later`,
        "--print-permissions",
      ]);
      equal(result.code, 0, result.stderr);
      match(result.stdout, new RegExp(`^--allow-write=${real}/rw$`, "m"));
      equal(await Deno.lstat(`${real}/later`).then(() => true, () => false), false);
    });
    await t.step("flags override the file", async () => {
      const config = await writeConfig(dir, "");
      const result = await runLauncher([
        "--config",
        config,
        "--bind",
        "::1",
        "--port",
        "9100",
        "--root",
        `${dir}/ro`,
        "--force-grpc-data",
        "--print-permissions",
      ]);
      equal(result.code, 0, result.stderr);
      match(result.stdout, /^'--allow-net=\[::1\]:9100'$/m);
      // The root is anonymous: read-only without root_anonymous_write.
      match(result.stdout, new RegExp(`^--allow-write=${real}/rw$`, "m"));
      // --force-grpc-data: no data-plane port to listen on.
      doesNotMatch(result.stdout, /9100,\[::1\]:0/);
    });
    await t.step(
      "the TLS key, the state directory and the audit log stay the launcher's",
      async () => {
        await Deno.writeTextFile(`${dir}/cert.pem`, "c");
        await Deno.writeTextFile(`${dir}/key.pem`, "k");
        await Deno.mkdir(`${dir}/log`, { recursive: true });
        const config = await writeConfig(dir, "");
        const result = await runLauncher([
          "--config",
          config,
          "--tls-cert",
          `${dir}/cert.pem`,
          "--tls-key",
          `${dir}/key.pem`,
          "--audit-log",
          `${dir}/log/audit.jsonl`,
          "--print-permissions",
        ]);
        equal(result.code, 0, result.stderr);
        match(result.stdout, new RegExp(`^--allow-read=${REPO},${real}/rw,${real}/ro$`, "m"));
        match(result.stdout, new RegExp(`^--allow-write=${real}/rw$`, "m"));
        doesNotMatch(result.stdout, /cert\.pem|key\.pem|\/state|\/log|config\.toml/);
      },
    );
    await t.step("--root alone when the default config file is missing", async () => {
      if (await Deno.lstat("/etc/blit/config.toml").then(() => true, () => false)) return;
      const result = await runLauncher([
        "--root",
        `${dir}/ro`,
        "--state-dir",
        `${dir}/state`,
        "--print-permissions",
      ]);
      equal(result.code, 0, result.stderr);
      match(result.stdout, new RegExp(`^--allow-read=${REPO},${real}/ro$`, "m"));
      // The root is anonymous: read-only without root_anonymous_write.
      doesNotMatch(result.stdout, /--allow-write/);
      match(result.stdout, /^--allow-sys=hostname,networkInterfaces,statfs$/m);
      doesNotMatch(result.stdout, forbidden);
    });
  });
});

Deno.test("blitd: supervises the server", async (t) => {
  await t.step("restarts a crashed server, then stops cleanly on SIGTERM", async () => {
    await withTempDir(async (dir) => {
      const config = await writeConfig(dir, `motd = "crash-once"`);
      const launcher = launcherCommand(["--config", config]).spawn();
      const stdout = collect(launcher.stdout);
      const stderr = collect(launcher.stderr);
      await waitFor(
        "two readiness lines",
        () => count(stdout.text(), /^blitd: listening on 127\.0\.0\.1:\d+$/) === 2,
      );
      const [first, second] = (await events(`${dir}/rw`))
        .filter((line) => line.startsWith("start "))
        .map((line) => Number(line.slice(6)));
      ok(first !== undefined && second !== undefined);
      match(stderr.text(), new RegExp(`server \\(pid ${first}\\) was killed by SIGABRT`));
      match(stderr.text(), /restarting in 0\.2 s/);
      ok(await alive(second));

      launcher.kill("SIGTERM");
      const status = await launcher.status;
      await Promise.all([stdout.done, stderr.done]);
      equal(status.code, 0, stderr.text());
      deepStrictEqual(await events(`${dir}/rw`), [
        `start ${first}`,
        `ready ${first}`,
        `start ${second}`,
        `ready ${second}`,
        `stop ${second}`,
      ]);
      ok(!(await alive(second)));
      assertNoStack(stderr.text());
      const lines = stderr.text().trimEnd().split("\n");
      equal(lines.length, 3, stderr.text());
      equal(lines[0], GENERATED(dir));
      equal(lines[1], RW_WARNING);
    });
  });

  await t.step("does not restart a server that exits 0", async () => {
    await withTempDir(async (dir) => {
      const config = await writeConfig(dir, `motd = "exit0"`);
      const { code, stdout, stderr } = await launcherCommand(["--config", config]).output();
      const out = new TextDecoder().decode(stdout);
      equal(code, 0, new TextDecoder().decode(stderr));
      equal(count(out, /^blitd: listening on /), 1);
      deepStrictEqual((await events(`${dir}/rw`)).map((line) => line.split(" ")[0]), [
        "start",
        "ready",
      ]);
      equal(new TextDecoder().decode(stderr), `${GENERATED(dir)}\n${RW_WARNING}\n`);
    });
  });

  await t.step("creates a missing state directory with mode 0700", async () => {
    await withTempDir(async (dir) => {
      const config = await writeConfig(dir, `motd = "exit0"\ntls = false`);
      const real = await Deno.realPath(dir);
      const { code, stderr } = await launcherCommand(
        ["--config", config, "--state-dir", `${dir}/deep/state`],
        {},
        [`--allow-write=${dir}`],
      ).output();
      const text = new TextDecoder().decode(stderr);
      equal(code, 0, text);
      equal(((await Deno.stat(`${dir}/deep/state`)).mode ?? 0) & 0o777, 0o700);
      equal(text, `${RW_WARNING}\nblitd: warning: tls = false: sessions are not encrypted\n`);
      ok(real.length > 0);
    });
  });
});

function fakeConfig(dir: string, motd: string): DaemonConfig {
  return {
    bind: "127.0.0.1",
    port: 0,
    motd,
    noMdns: true,
    mdnsName: null,
    root: null,
    rootReadOnly: false,
    modules: [{
      name: "rw",
      path: dir,
      readOnly: false,
      comment: "",
      users: null,
      anonymousWrite: true,
      list: true,
      keepSpecialBits: false,
      keepOwner: false,
    }],
    forceGrpcData: false,
    source: null,
    tls: false,
    tlsCert: null,
    tlsKey: null,
    stateDir: dir,
    hostsAllow: null,
    hostsDeny: [],
    maxConnections: 256,
    maxConnectionsPerHost: 64,
    auditLog: null,
    users: [],
    rootUsers: null,
    rootAnonymousWrite: false,
    rootKeepSpecialBits: false,
    rootKeepOwner: false,
    confinement: "none",
  };
}

function supervise(
  dir: string,
  motd: string,
  options: { stopTimeoutMs?: number; initialBackoffMs?: number } = {},
): { supervisor: Supervisor; logs: string[] } {
  const logs: string[] = [];
  const supervisor = new Supervisor({
    command: Deno.execPath(),
    args: [
      "run",
      "--no-prompt",
      `--allow-read=${REPO},${dir}`,
      `--allow-write=${dir}`,
      "--allow-net=127.0.0.1",
      FAKE_SERVER,
    ],
    stdin: encodeHandoff({ config: fakeConfig(dir, motd), tls: null, umask: null }),
    stdio: "null",
    signals: [],
    initialBackoffMs: options.initialBackoffMs ?? 10,
    maxBackoffMs: 40,
    maxRestartsPerMinute: 2,
    stopTimeoutMs: options.stopTimeoutMs ?? 10_000,
    log: (line) => logs.push(line),
  });
  return { supervisor, logs };
}

Deno.test("Supervisor", async (t) => {
  await t.step("gives up after too many restarts within a minute", async () => {
    await withTempDir(async (dir) => {
      const { supervisor, logs } = supervise(dir, "fail-always");
      equal(await supervisor.run(), 1);
      equal(supervisor.restarts, 2);
      equal((await events(dir)).filter((line) => line.startsWith("start ")).length, 3);
      equal(logs.length, 3);
      match(logs[0] ?? "", /exited with code 3 .*restarting in 0\.01 s$/);
      match(logs[1] ?? "", /restarting in 0\.02 s$/);
      match(logs[2] ?? "", /Cannot keep the server running: 2 restarts within a minute/);
      await rejects(() => supervisor.run(), /already run/);
    });
  });

  await t.step("does not restart on EXIT_NO_RESTART", async () => {
    await withTempDir(async (dir) => {
      const { supervisor, logs } = supervise(dir, "no-restart");
      equal(await supervisor.run(), EXIT_NO_RESTART);
      equal(supervisor.restarts, 0);
      equal(logs.length, 1);
      match(logs[0] ?? "", /exited with code 78 .*not restarting/);
    });
  });

  await t.step("stop() ends a graceful server with its code", async () => {
    await withTempDir(async (dir) => {
      const { supervisor, logs } = supervise(dir, "serve");
      const running = supervisor.run();
      await waitFor("the server", async () => (await events(dir)).length === 2);
      const pid = supervisor.pid;
      ok(pid !== null);
      supervisor.stop("SIGINT");
      equal(await running, 0);
      deepStrictEqual(await events(dir), [`start ${pid}`, `ready ${pid}`, `stop ${pid}`]);
      equal(supervisor.pid, null);
      deepStrictEqual(logs, []);
    });
  });

  await t.step("kills a server that ignores the stop signal", async () => {
    await withTempDir(async (dir) => {
      const { supervisor, logs } = supervise(dir, "ignore-term", { stopTimeoutMs: 300 });
      const running = supervisor.run();
      await waitFor("the server", async () => (await events(dir)).length === 2);
      supervisor.stop();
      equal(await running, 1);
      match(logs[0] ?? "", /did not stop within 0\.3 s; killing it/);
    });
  });

  await t.step("stop() during the backoff cancels the restart", async () => {
    await withTempDir(async (dir) => {
      const { supervisor, logs } = supervise(dir, "fail-always", { initialBackoffMs: 30_000 });
      const running = supervisor.run();
      await waitFor("the crash", () => logs.length === 1);
      supervisor.stop();
      equal(await running, 0);
      equal((await events(dir)).length, 2);
    });
  });
});

Deno.test("parseBlitdArgs()", async (t) => {
  await t.step("maps flags to overrides", () => {
    deepStrictEqual(
      parseBlitdArgs([
        "--config",
        "/c.toml",
        "--bind",
        "::",
        "--port",
        "0",
        "--root",
        "r",
        "--no-mdns",
        "--mdns-name",
        "nas",
        "--force-grpc-data",
        "--tls-cert",
        "c.pem",
        "--tls-key",
        "k.pem",
        "--state-dir",
        "/var/lib/blit",
        "--audit-log",
        "a.jsonl",
        "--print-permissions",
        "--print-fingerprint",
      ]),
      {
        config: "/c.toml",
        overrides: {
          bind: "::",
          port: 0,
          root: "r",
          noMdns: true,
          mdnsName: "nas",
          forceGrpcData: true,
          tlsCert: "c.pem",
          tlsKey: "k.pem",
          stateDir: "/var/lib/blit",
          auditLog: "a.jsonl",
        },
        printPermissions: true,
        printFingerprint: true,
        help: false,
      },
    );
    deepStrictEqual(parseBlitdArgs(["--no-tls"]).overrides, { tls: false });
  });
  await t.step("rejects a bad port, extra arguments and an empty config path", () => {
    throws(() => parseBlitdArgs(["--port", "9x"]), /Cannot use --port "9x"/);
    throws(() => parseBlitdArgs(["serve"]), /Cannot use extra argument "serve"/);
    throws(() => parseBlitdArgs(["--config="]), /Cannot use --config ""/);
    throws(() => parseBlitdArgs(["--state-dir="]), /Cannot use --state-dir ""/);
    throws(
      () => parseBlitdArgs(["--no-tls", "--tls-cert", "c"]),
      /^UsageError: Cannot use --tls-cert with --no-tls: drop one of them$/,
    );
    throws(
      () => parseBlitdArgs(["--tls-cert"]),
      /Cannot use option "--tls-cert <value>" without a value/,
    );
  });
});

Deno.test("parseServerConfig()", async (t) => {
  const config = fakeConfig("/srv/rw", "hi");
  const key = `blit-ed25519 ${new Uint8Array(32).fill(3).toBase64()} alice@laptop`;
  const full: DaemonConfig = {
    ...config,
    root: "/srv/root",
    rootReadOnly: false,
    tls: true,
    tlsCert: "/etc/blit/cert.pem",
    tlsKey: "/etc/blit/key.pem",
    hostsAllow: ["10.0.0.0/8", "::1"],
    hostsDeny: ["10.0.9.0/24"],
    maxConnections: 10,
    maxConnectionsPerHost: 2,
    auditLog: "/var/log/blit/audit.jsonl",
    users: [{ name: "alice", publicKeys: [key] }, { name: "bob", publicKeys: [key, key] }],
    rootUsers: [{ name: "alice", readOnly: true }],
    rootKeepSpecialBits: true,
    rootKeepOwner: true,
    modules: [
      ...config.modules,
      {
        name: "team",
        path: "/srv/team",
        readOnly: false,
        comment: "",
        users: [{ name: "bob", readOnly: false }],
        anonymousWrite: false,
        list: false,
        keepSpecialBits: true,
        keepOwner: true,
      },
    ],
  };
  await t.step("reads back serializeServerConfig()", () => {
    deepStrictEqual(parseServerConfig(serializeServerConfig(config)), config);
    deepStrictEqual(parseServerConfig(serializeServerConfig(full)), full);
  });
  await t.step("checks every security field", () => {
    const json = (patch: Record<string, unknown>): string => JSON.stringify({ ...full, ...patch });
    const team = full.modules[1] as DaemonConfig["modules"][number];
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ tls: "yes" }, /"tls" must be a boolean/],
      [{ tlsCert: null }, /"tlsCert" and "tlsKey" go together/],
      [{ tls: false }, /"tlsCert" is set but "tls" is false/],
      [{ tlsKey: "key.pem" }, /"tlsKey" must be an absolute path/],
      [{ stateDir: null }, /"stateDir" must be an absolute path/],
      [{ hostsAllow: ["10.0.0.0/33"] }, /"hostsAllow" holds "10\.0\.0\.0\/33"/],
      [{ hostsDeny: null }, /"hostsDeny" must be an array/],
      [{ maxConnections: 0 }, /"maxConnections" must be an integer from 1 to 100000/],
      [{ maxConnectionsPerHost: 11 }, /"maxConnectionsPerHost" must be an integer from 1 to 10/],
      [{ auditLog: "audit" }, /"auditLog" must be an absolute path/],
      [{ users: [{ name: "a", publicKeys: [] }] }, /user "a" publicKeys must be a non-empty/],
      [
        { users: [{ name: "a", publicKeys: ["blit-ed25519 AAAA"] }] },
        /user "a" has a public key that is not a normalised/,
      ],
      [{ users: [{ name: "a", publicKeys: [key], extra: 1 }] }, /unknown key "extra"/],
      [{ users: [...full.users, full.users[0]] }, /user name "alice" is used twice/],
      [{ rootUsers: [{ name: "carol", readOnly: false }] }, /"rootUsers" #1 names no declared/],
      [{ rootUsers: null }, /the root is anonymous without anonymousWrite, so it must be readOnly/],
      [{ root: "srv" }, /"root" must be an absolute path/],
      [
        { rootAnonymousWrite: true },
        /the root has both users and anonymousWrite/,
      ],
      [
        { modules: [{ ...team, users: null }] },
        /module "team" is anonymous without anonymousWrite, so it must be readOnly/,
      ],
      [{ modules: [{ ...team, list: 1 }] }, /module "team" list must be a boolean/],
      [
        { modules: [{ ...team, keepSpecialBits: "yes" }] },
        /module "team" keepSpecialBits must be a boolean/,
      ],
      [{ rootKeepSpecialBits: null }, /"rootKeepSpecialBits" must be a boolean/],
      [{ modules: [{ ...team, keepOwner: 1 }] }, /module "team" keepOwner must be a boolean/],
      [{ rootKeepOwner: "no" }, /"rootKeepOwner" must be a boolean/],
      [{ motd: "x".repeat(4097) }, /"motd" is 4097 bytes long, more than 4096/],
      [{ motd: "\u001b[2J" }, /"motd" holds the control character U\+001B/],
      [{ modules: [{ ...team, comment: "a\nb" }] }, /module "team" comment holds the control/],
      [{ modules: [{ ...team, name: "t".repeat(65) }] }, /module #1 has an invalid name/],
      [{ stateDir: `/${"s".repeat(4095)}` }, /"stateDir" must be an absolute path of at most 4095/],
      [
        { modules: [{ ...team, users: [{ name: "bob", readOnly: false }, { name: "bob" }] }] },
        /module "team" users #2 has no "readOnly"/,
      ],
    ];
    for (const [patch, pattern] of cases) {
      throws(() => parseServerConfig(json(patch)), (error: unknown) => {
        ok(error instanceof TypeError, String(error));
        match((error as Error).message, pattern);
        match((error as Error).message, /^Cannot parse server config: .*; start the server/);
        return true;
      });
    }
  });
  await t.step("rejects unknown, missing and bad fields", () => {
    const json = (patch: Record<string, unknown>): string =>
      JSON.stringify({ ...config, ...patch });
    throws(() => parseServerConfig("{"), SyntaxError);
    throws(() => parseServerConfig(json({ extra: 1 })), /unknown key "extra"/);
    const { motd: _motd, ...noMotd } = config;
    throws(() => parseServerConfig(JSON.stringify(noMotd)), /has no "motd"/);
    throws(() => parseServerConfig(json({ port: 70000 })), /"port" must be/);
    throws(() => parseServerConfig(json({ bind: "nas.local" })), /"bind" must be/);
    throws(() => parseServerConfig(json({ root: "srv" })), /"root" must be an absolute path/);
    throws(
      () => parseServerConfig(json({ modules: [config.modules[0], config.modules[0]] })),
      /used twice/,
    );
  });
});
