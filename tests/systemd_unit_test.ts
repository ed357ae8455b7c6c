/**
 * `blitd systemd-unit`: the real CLI prints a unit whose file system view, privileges and
 * network settings come from the configuration; systemd-analyze accepts it (when installed);
 * bad input gives one line and a non-zero exit.
 *
 * @module
 */

import { equal, match, ok } from "node:assert/strict";
import { parseDaemonConfig } from "../core/config.ts";
import { renderSystemdUnit, SERVICE_STATE_HOME } from "../daemon/systemd_unit.ts";
import { assertNoStack, decodeOutput, REPO, withTempDir } from "./_helpers.ts";

const KEY = `blit-ed25519 ${new Uint8Array(32).fill(1).toBase64()} alice@test`;

/** The `deno run` flags of the `blitd` task in deno.json. */
function blitdFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  return (config.tasks.blitd ?? "").split(/\s+/).filter((word) => word.startsWith("--"));
}

/** Runs `blitd systemd-unit ARGS` as the `blitd` task would, from `cwd`. */
async function systemdUnit(
  args: string[],
  cwd: string = REPO,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...blitdFlags(), `${REPO}/daemon/main.ts`, "systemd-unit", ...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return decodeOutput(output);
}

/** The values of a setting, in order (`BindPaths=a b` twice gives `["a b", …]`). */
function settings(unit: string, key: string): string[] {
  return unit.split("\n").filter((line) => line.startsWith(`${key}=`)).map((line) =>
    line.slice(key.length + 1)
  );
}

/** The words of every line of a setting. */
function words(unit: string, key: string): string[] {
  return settings(unit, key).flatMap((value) => value.split(" ").filter((w) => w !== ""));
}

/** Whether a command can be run here. */
async function available(program: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(program, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/** A config with a writable module, a read-only module, a read-only root and an audit log. */
async function writeConfig(dir: string, daemon: string[] = []): Promise<string> {
  for (const sub of ["rw", "ro", "share", "logs", "state"]) await Deno.mkdir(`${dir}/${sub}`);
  const file = `${dir}/blitd.toml`;
  await Deno.writeTextFile(
    file,
    [
      "[daemon]",
      'root = "share"',
      'state_dir = "state"',
      'audit_log = "logs/audit.jsonl"',
      ...daemon,
      "[[user]]",
      'name = "alice"',
      `public_key = "${KEY}"`,
      "[[module]]",
      'name = "rw"',
      'path = "rw"',
      'users = ["alice"]',
      "[[module]]",
      'name = "ro"',
      'path = "ro"',
      "",
    ].join("\n"),
  );
  return file;
}

Deno.test("blitd systemd-unit: the view, the command and the hardening come from the config", async (t) => {
  await withTempDir(async (tmp) => {
    const dir = await Deno.realPath(tmp);
    await writeConfig(dir);
    // A relative --config, resolved against the working directory.
    const result = await systemdUnit(["--config", "blitd.toml"], dir);
    assertNoStack(result.stderr);
    equal(result.code, 0, result.stderr);
    const unit = result.stdout;

    await t.step("the launcher with the blitd task's flags, in systemd confinement", () => {
      const [execStart] = settings(unit, "ExecStart");
      ok(execStart !== undefined, unit);
      equal(
        execStart,
        [
          Deno.realPathSync(Deno.execPath()),
          "run",
          ...blitdFlags(),
          `${REPO}/daemon/main.ts`,
          "--config",
          `${dir}/blitd.toml`,
          "--confinement",
          "systemd",
        ].join(" "),
      );
      equal(settings(unit, "WorkingDirectory")[0], REPO);
      equal(settings(unit, "User")[0], "blit");
      equal(settings(unit, "RestartPreventExitStatus")[0], "78");
    });

    await t.step("exports: writable read-write, read-only read-only", () => {
      const rw = words(unit, "BindPaths");
      const ro = words(unit, "BindReadOnlyPaths");
      ok(rw.includes(`-${dir}/rw`), unit);
      ok(ro.includes(`-${dir}/ro`), unit);
      ok(ro.includes(`-${dir}/share`), unit);
      ok(!rw.includes(`-${dir}/ro`) && !rw.includes(`-${dir}/share`), unit);
      ok(!ro.includes(`-${dir}/rw`), unit);
    });

    await t.step(
      "the launcher's files: config and code read-only, state and audit writable",
      () => {
        const ro = words(unit, "BindReadOnlyPaths");
        ok(ro.includes(`-${dir}/blitd.toml`), unit);
        ok(ro.includes(REPO), unit);
        const rw = words(unit, "BindPaths");
        ok(rw.includes(`-${dir}/state`), unit);
        ok(rw.includes(`-${dir}/logs`), unit);
        equal(
          words(unit, "ReadWritePaths").join(" "),
          `-${dir}/rw -${dir}/state -${dir}/logs`,
        );
      },
    );

    await t.step("nothing else: other top-level directories are empty tmpfs", () => {
      const tmpfs = words(unit, "TemporaryFileSystem");
      ok(tmpfs.includes("/etc:ro"), unit);
      ok(tmpfs.includes("/var:ro"), unit);
      for (const kept of ["/usr:ro", "/tmp:ro", "/proc:ro", "/dev:ro"]) {
        ok(!tmpfs.includes(kept), `${kept} in ${tmpfs.join(" ")}`);
      }
      equal(settings(unit, "ProtectSystem")[0], "strict");
      equal(settings(unit, "ProtectHome")[0], "yes");
      equal(settings(unit, "PrivateTmp")[0], "yes");
    });

    await t.step("privileges: none", () => {
      equal(settings(unit, "NoNewPrivileges")[0], "yes");
      equal(settings(unit, "RestrictSUIDSGID")[0], "yes");
      equal(settings(unit, "CapabilityBoundingSet")[0], "");
      equal(settings(unit, "MemoryDenyWriteExecute").length, 0);
      equal(
        settings(unit, "RestrictAddressFamilies")[0],
        "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
      );
    });

    await t.step("systemd-analyze accepts it and rates it", async () => {
      if (!(await available("systemd-analyze"))) {
        console.log("    skipped: systemd-analyze is not installed");
        return;
      }
      const file = `${dir}/blitd.service`;
      await Deno.writeTextFile(file, unit);
      const verify = await new Deno.Command("systemd-analyze", {
        args: ["verify", file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(verify.stderr);
      equal(verify.code, 0, said);
      ok(!said.includes("blitd.service"), said);
      const security = await new Deno.Command("systemd-analyze", {
        args: ["security", "--offline=true", "--no-pager", file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!security.success) {
        console.log("    skipped the rating: this systemd-analyze has no offline security");
        return;
      }
      const level = new TextDecoder().decode(security.stdout).match(
        /Overall exposure level for blitd\.service: (\d+\.\d+)/,
      );
      ok(level !== null, "no exposure level");
      ok(Number(level[1]) < 2, `exposure ${level[1]}`);
    });
  });
});

Deno.test("blitd systemd-unit: root, a low port, no mDNS, address rules, special bits, /var/lib, /root", async () => {
  await withTempDir(async (tmp) => {
    const dir = await Deno.realPath(tmp);
    const config = await writeConfig(dir, [
      "port = 443",
      "no_mdns = true",
      'hosts_allow = ["10.0.0.0/8", "::ffff:192.168.0.0/112"]',
    ]);
    const text = await Deno.readTextFile(config);
    await Deno.writeTextFile(
      config,
      text.replace('state_dir = "state"', 'state_dir = "/var/lib/blit-unit-test"')
        .replace('users = ["alice"]', 'users = ["alice"]\nkeep_special_bits = true'),
    );
    const denoDir = "/root/.cache/blit-unit-test-deno";
    const result = await systemdUnit([
      "--config",
      config,
      "--user",
      "root",
      "--deno-dir",
      denoDir,
    ]);
    equal(result.code, 0, result.stderr);
    const unit = result.stdout;
    equal(settings(unit, "User")[0], "root");
    match(settings(unit, "CapabilityBoundingSet")[0] ?? "", /CAP_DAC_OVERRIDE/);
    doesNotInclude(settings(unit, "CapabilityBoundingSet")[0] ?? "", "CAP_SYS_ADMIN");
    equal(settings(unit, "StateDirectory")[0], "blit-unit-test");
    ok(words(unit, "ReadWritePaths").includes("-/var/lib/blit-unit-test"), unit);
    ok(!words(unit, "BindPaths").includes("-/var/lib/blit-unit-test"), unit);
    equal(settings(unit, "RestrictAddressFamilies")[0], "AF_INET AF_INET6 AF_UNIX");
    equal(
      settings(unit, "IPAddressAllow")[0],
      "10.0.0.0/8 0:0:0:0:0:ffff:c0a8:0/112 192.168.0.0/16",
    );
    equal(settings(unit, "IPAddressDeny")[0], "any");
    // The writable module keeps setuid/setgid bits: the service must be able to set them.
    equal(settings(unit, "RestrictSUIDSGID")[0], "no");
    // Deno's cache under /root: home directories become an empty tmpfs holding it.
    equal(settings(unit, "ProtectHome")[0], "tmpfs");
    ok(words(unit, "BindReadOnlyPaths").includes(`-${denoDir}`), unit);
    equal(settings(unit, "Environment")[0], `DENO_DIR=${denoDir}`);
    match(result.stderr, /^blitd: warning: Deno's cache .* does not exist yet/);
  });
});

Deno.test("blitd systemd-unit: bad input gives one line and a non-zero exit", async (t) => {
  await withTempDir(async (dir) => {
    const config = await writeConfig(dir);
    const cases: [string, string[], RegExp][] = [
      ["missing --config", [], /^blitd: Cannot write a systemd unit without --config/],
      [
        "a user name systemd refuses",
        ["--config", config, "--user", "Bad User"],
        /--user "Bad User"/,
      ],
      ["a numeric user", ["--config", config, "--user", "1000"], /--user "1000"/],
      ["a missing config", ["--config", `${dir}/nope.toml`], /does not exist/],
      ["an unknown flag", ["--config", config, "--force"], /--force/],
    ];
    for (const [what, args, pattern] of cases) {
      await t.step(what, async () => {
        const result = await systemdUnit(args);
        assertNoStack(result.stderr);
        ok(result.code !== 0, `exit ${result.code}`);
        equal(result.stdout, "");
        const lines = result.stderr.trimEnd().split("\n");
        equal(lines.length, 1, result.stderr);
        match(lines[0] ?? "", /^blitd: /);
        match(lines[0] ?? "", pattern);
      });
    }
  });
});

function doesNotInclude(text: string, part: string): void {
  ok(!text.includes(part), `${JSON.stringify(text)} includes ${part}`);
}

/** The example unit in the checkout, generated for the configuration in its first comment. */
const EXAMPLE = `${REPO}/daemon/blitd.service`;
const EXAMPLE_CONFIG_MARK = "# The configuration it was generated from:";
const EXAMPLE_UNIT_MARK = "# blitd.service: generated by";

Deno.test("daemon/blitd.service is what the generator prints for its configuration", async () => {
  const text = await Deno.readTextFile(EXAMPLE);
  const configAt = text.indexOf(EXAMPLE_CONFIG_MARK);
  const unitAt = text.indexOf(EXAMPLE_UNIT_MARK);
  ok(configAt > 0 && unitAt > configAt, "daemon/blitd.service lost its markers");
  const toml = text.slice(configAt + EXAMPLE_CONFIG_MARK.length, unitAt).split("\n")
    .map((line) => line.replace(/^#(?: {3})?/, "")).join("\n");
  const config = parseDaemonConfig(toml, {
    baseDir: "/etc/blit",
    source: "/etc/blit/config.toml",
    env: { XDG_STATE_HOME: SERVICE_STATE_HOME },
  });
  // A Debian host with merged /usr, blit in /opt/blit, Deno in /usr/local/bin.
  const links: Record<string, string> = {
    "/bin": "usr/bin",
    "/lib": "usr/lib",
    "/lib64": "usr/lib64",
    "/sbin": "usr/sbin",
  };
  const top =
    "bin boot dev etc home lib lib64 lost+found media mnt opt proc root run sbin srv sys " +
    "tmp usr var";
  const unit = renderSystemdUnit(config, {
    configPath: "/etc/blit/config.toml",
    user: "blit",
    layout: {
      repoRoot: "/opt/blit",
      serverEntry: "/opt/blit/daemon/server.ts",
      deno: "/usr/local/bin/deno",
      denoDir: "/var/cache/blit/deno",
      system: ["/usr", "/bin", "/lib", "/lib64", "/sbin"].map((path) => ({
        path,
        link: links[path] ?? null,
      })),
      etc: ["/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf"],
    },
    topLevel: top.split(" ").map((name) => ({
      path: `/${name}`,
      kind: links[`/${name}`] === undefined ? "directory" : "symlink",
    })),
    launcherFlags: blitdFlags(),
    denoDir: "/var/cache/blit/deno",
  });
  if (Deno.env.get("BLIT_UPDATE_EXAMPLE") === "1") {
    await Deno.writeTextFile(EXAMPLE, text.slice(0, unitAt) + unit);
    return;
  }
  equal(
    text.slice(unitAt),
    unit,
    "daemon/blitd.service is out of date: run this test with BLIT_UPDATE_EXAMPLE=1 to rewrite it",
  );
});
