/**
 * An operable daemon, through the real `blitd` launcher and server: timestamped console lines
 * with one line per finished session, `--log-format json`, a graceful SIGTERM (running sessions
 * finish or are cancelled with "daemon shutting down"), and a restart on the port a crashed
 * server had.
 *
 * @module
 */

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { Operation, Role, type ServerFrame } from "../proto/gen/blit_pb.ts";
import {
  acceptsConnections,
  launcherFlags,
  openRawSession,
  type RawSession,
  startDaemon,
  startDaemonWithConfig,
  testClientKey,
  type TestDaemon,
} from "./_daemon.ts";
import { assertNoStack, decodeOutput, makeTree, REPO, runBlit, withTempDir } from "./_helpers.ts";

const ISO = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;

/** Waits until `check` holds, polling. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The daemon's session lines (those naming a peer and an operation). */
function sessionLines(log: string): string[] {
  return log.split("\n").filter((line) =>
    new RegExp(`^${ISO} 127\\.0\\.0\\.1:\\d+ \\S+ (push|pull)`).test(line)
  );
}

/** Opens a push session (the daemon writes) and leaves it waiting for the client's frames. */
async function openIdlePush(daemon: TestDaemon): Promise<RawSession> {
  const raw = await openRawSession(daemon.address);
  await raw.open({
    role: Role.DESTINATION,
    module: "mod",
    path: "",
    operation: Operation.COPY,
    forceGrpcData: true,
  });
  const accept = await raw.port.nextRaw(10_000);
  equal(accept?.case, "accept");
  return raw;
}

/** Reads frames until the daemon ends the session; returns the last one. */
async function lastFrame(raw: RawSession): Promise<ServerFrame["frame"] | null> {
  let last: ServerFrame["frame"] | null = null;
  for (;;) {
    let frame: ServerFrame["frame"] | null;
    try {
      frame = await raw.port.nextRaw(30_000);
    } catch {
      return last;
    }
    if (frame === null || frame.case === undefined) return last;
    last = frame;
  }
}

/** Runs the real `blitd` launcher to its end (for flags and configurations it refuses). */
async function blitd(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return decodeOutput(
    await new Deno.Command(Deno.execPath(), {
      args: ["run", ...launcherFlags(), `${REPO}/daemon/main.ts`, ...args],
      cwd: REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output(),
  );
}

/** The process ids of `pid`'s children (Linux). */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
    const text = await Deno.readTextFile(`/proc/${pid}/task/${task.name}/children`).catch(() => "");
    children.push(...text.trim().split(/\s+/).filter((w) => w !== "").map(Number));
  }
  return children;
}

Deno.test({
  name: "blitd: console lines",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await t.step("text: one timestamped line per finished session", async () => {
      await withTempDir(async (dir) => {
        await makeTree(dir, { "src/a.txt": "hello", "src/b.txt": "world!", "mod/.keep": "" });
        const daemon = await startDaemon(dir, [{ name: "mod", path: `${dir}/mod` }]);
        try {
          const push = await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/mod/in/`]);
          equal(push.code, 0, push.stderr);
          await waitFor("the session line", () => sessionLines(daemon.log()).length === 1);
          const pull = await runBlit(["copy", `${daemon.address}:/mod/in/a.txt`, `${dir}/back/`]);
          equal(pull.code, 0, pull.stderr);
          await waitFor("two session lines", () => sessionLines(daemon.log()).length === 2);
          const [pushed, pulled] = sessionLines(daemon.log());
          match(
            pushed ?? "",
            new RegExp(
              `^${ISO} 127\\.0\\.0\\.1:\\d+ tester push mod:/in/? ok 2 files 11 bytes \\d+ ms$`,
            ),
          );
          match(
            pulled ?? "",
            new RegExp(`^${ISO} 127\\.0\\.0\\.1:\\d+ tester pull mod:/in/a\\.txt ok \\d+ files`),
          );
        } finally {
          await daemon.stop();
        }
        // Every line of the log has its time, or is a start-up line of the launcher.
        for (const line of daemon.log().trimEnd().split("\n")) {
          ok(new RegExp(`^(${ISO} |blitd: )`).test(line), line);
        }
      });
    });

    await t.step('log_format = "json": the fields of the audit log', async () => {
      await withTempDir(async (dir) => {
        await makeTree(dir, { "src/a.txt": "hello", "mod/.keep": "" });
        const daemon = await startDaemon(
          dir,
          [{ name: "mod", path: `${dir}/mod` }],
          ['log_format = "json"'],
        );
        try {
          const push = await runBlit(["copy", `${dir}/src/a.txt`, `${daemon.address}:/mod/`]);
          equal(push.code, 0, push.stderr);
          const parsed = (): Record<string, unknown>[] =>
            daemon.log().split("\n").filter((line) => line.startsWith("{")).map((line) =>
              JSON.parse(line) as Record<string, unknown>
            );
          await waitFor("a JSON session line", () => parsed().some((o) => "operation" in o));
          const session = parsed().find((o) => "operation" in o) ?? {};
          deepStrictEqual(Object.keys(session), [
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
          match(String(session.time), new RegExp(`^${ISO}$`));
          deepStrictEqual(
            [session.user, session.module, session.operation, session.files, session.bytes],
            ["tester", "mod", "push", 1, 5],
          );
          equal(session.outcome, "ok");
        } finally {
          await daemon.stop();
        }
        // After start-up, every line is a JSON object with a time.
        const lines = daemon.log().trimEnd().split("\n").filter((l) => !l.startsWith("blitd: "));
        ok(lines.length >= 1);
        for (const line of lines) match(String(JSON.parse(line).time), new RegExp(`^${ISO}$`));
      });
    });

    await t.step("--log-format json overrides the file", async () => {
      await withTempDir(async (dir) => {
        await Deno.mkdir(`${dir}/pub`);
        const toml = [
          "[daemon]",
          'bind = "127.0.0.1"',
          "port = 0",
          "no_mdns = true",
          "tls = false",
          'log_format = "text"',
          `state_dir = "${dir}/state"`,
          "[[user]]",
          'name = "tester"',
          `public_key = "${(await testClientKey()).publicLine}"`,
          "[[module]]",
          'name = "pub"',
          `path = "${dir}/pub"`,
          'users = ["tester"]',
        ].join("\n");
        const daemon = await startDaemonWithConfig(dir, `${toml}\n`, {}, ["--log-format", "json"]);
        try {
          const listed = await runBlit(["list", "--no-tls", daemon.address]);
          equal(listed.code, 0, listed.stderr);
          await waitFor(
            "the JSON line of the listing",
            () => /"operation":"modules"/.test(daemon.log()),
          );
          const line = daemon.log().split("\n").find((l) => l.includes('"operation":"modules"'));
          const entry = JSON.parse(line ?? "{}") as Record<string, unknown>;
          deepStrictEqual([entry.user, entry.outcome, entry.files], ["tester", "ok", 1]);
        } finally {
          await daemon.stop();
        }
        const bad = await blitd(["--log-format", "xml"]);
        equal(bad.code, 1);
        equal(bad.stderr, 'blitd: Cannot use --log-format "xml": give text or json\n');
      });
    });

    await t.step("a bad log_format or shutdown_grace stops start-up with one line", async () => {
      await withTempDir(async (dir) => {
        await Deno.mkdir(`${dir}/mod`);
        for (
          const [line, pattern] of [
            ['log_format = "xml"', /"daemon\.log_format" value "xml" is not known, use one of/],
            ['shutdown_grace = "soon"', /"daemon\.shutdown_grace" value "soon" is not a duration/],
            ["shutdown_grace = 7200", /is not a duration of at most 60 minutes, give whole/],
          ] as const
        ) {
          const config = `${dir}/blitd.toml`;
          await Deno.writeTextFile(
            config,
            `[daemon]\nno_mdns = true\n${line}\n[[module]]\nname = "mod"\npath = "${dir}/mod"\n`,
          );
          const { code, stdout, stderr } = await blitd(["--config", config]);
          equal(code, 78, stderr);
          equal(stdout, "");
          const said = stderr.trimEnd().split("\n");
          equal(said.length, 1, stderr);
          match(said[0] ?? "", /^blitd: Cannot load config /);
          match(said[0] ?? "", pattern);
        }
      });
    });
  },
});

Deno.test({
  name: "blitd: SIGTERM is graceful",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await t.step("stops accepting, lets a running session finish, then exits", async () => {
      await withTempDir(async (dir) => {
        await Deno.mkdir(`${dir}/mod`);
        const daemon = await startDaemon(
          dir,
          [{ name: "mod", path: `${dir}/mod` }],
          ['shutdown_grace = "20s"'],
        );
        const raw = await openIdlePush(daemon);
        const stopped = daemon.stop();
        const signalled = Date.now();
        try {
          await waitFor(
            "the listener to close",
            async () => !(await acceptsConnections(daemon.port)),
          );
          ok(daemon.running(), "the daemon must wait for its running session");
          match(
            daemon.log(),
            /stopping: no new sessions; waiting up to 20 s for 1 running session/,
          );
        } finally {
          raw.client.close();
        }
        await stopped;
        ok(Date.now() - signalled < 15_000, "the daemon waited longer than its session");
        ok(!daemon.log().includes("cancelling"), daemon.log());
        assertNoStack(daemon.log());
      });
    });

    await t.step("cancels sessions still running after the grace", async () => {
      await withTempDir(async (dir) => {
        await Deno.mkdir(`${dir}/mod`);
        const daemon = await startDaemon(
          dir,
          [{ name: "mod", path: `${dir}/mod` }],
          ["shutdown_grace = 1"],
        );
        const raw = await openIdlePush(daemon);
        const signalled = Date.now();
        const stopped = daemon.stop();
        try {
          const last = await lastFrame(raw);
          ok(Date.now() - signalled >= 900, "cancelled before the grace ended");
          equal(last?.case, "error", JSON.stringify(last));
          const message = last?.case === "error" ? last.value.message : "";
          match(message, /^Cannot finish the transfer: daemon shutting down/);
          equal(message.includes("\n"), false);
        } finally {
          raw.client.close();
        }
        await stopped;
        const log = daemon.log();
        match(log, /stopping: cancelling 1 session still running after 1 s/);
        match(
          log,
          new RegExp(
            `${ISO} 127\\.0\\.0\\.1:\\d+ tester push mod:/ failed 0 files 0 bytes \\d+ ms: ` +
              "cancelled: daemon shutting down",
          ),
        );
        assertNoStack(log);
      });
    });
  },
});

Deno.test({
  name: "blitd: a crashed server comes back on the port it had",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      await makeTree(dir, { "mod/a.txt": "hello" });
      // port = 0 (the helper's default): the first server binds an ephemeral port.
      const daemon = await startDaemon(
        dir,
        [{ name: "mod", path: `${dir}/mod`, users: null }],
        ['confinement = "none"'],
      );
      try {
        const [server] = await childrenOf(daemon.pid);
        ok(server !== undefined, "the launcher has no server process");
        Deno.kill(server, "SIGKILL");
        await waitFor(
          `the restart of ${server} (children ${await childrenOf(daemon.pid)})`,
          () => /was killed by SIGKILL after [\d.]+ s; restarting/.test(daemon.log()),
        ).catch((e) => {
          throw new Error(`${e.message}\n${daemon.log()}`);
        });
        match(daemon.log(), new RegExp(`^${ISO} server \\(pid ${server}\\) was killed`, "m"));
        await waitFor("a new server", async () => {
          const now = await childrenOf(daemon.pid);
          return now.length > 0 && !now.includes(server);
        });
        let listed = { code: -1, stdout: "", stderr: "" };
        await waitFor("the daemon to answer on the same port", async () => {
          listed = await runBlit(["list", daemon.address]);
          return listed.code === 0;
        });
        match(listed.stdout, /^mod\s+ro/m);
        ok(daemon.running());
      } finally {
        await daemon.stop();
      }
    });
  },
});

Deno.test("blit list HOST shows the daemon's motd on stderr and in --json", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/m`);
    const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/m` }], [
      'motd = "welcome to the nas\\n\\tbackups run at 02:00"',
    ]);
    try {
      const text = await runBlit(["list", daemon.address]);
      equal(text.code, 0, text.stderr);
      ok(
        text.stderr.includes("welcome to the nas\n\tbackups run at 02:00\n"),
        text.stderr,
      );
      ok(text.stdout.includes("m"), text.stdout);
      const json = await runBlit(["list", daemon.address, "--json"]);
      equal(json.code, 0, json.stderr);
      const parsed = JSON.parse(json.stdout) as { motd: string | null };
      equal(parsed.motd, "welcome to the nas\n\tbackups run at 02:00");
    } finally {
      await daemon.stop();
    }
  });
});
