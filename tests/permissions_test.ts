import {
  deepStrictEqual as assertEquals,
  strictEqual,
  throws as assertThrows,
} from "node:assert/strict";
import { applyDaemonOverrides, type DaemonConfig, parseDaemonConfig } from "../core/config.ts";
import {
  computeDaemonPermissions,
  type DaemonPermissionOptions,
  formatPermissions,
  GRPC_ENV_VARS,
} from "../daemon/permissions.ts";

const REPO = "/opt/blit";
const BASE: DaemonPermissionOptions = {
  serverEntry: "/opt/blit/daemon/server.ts",
  repoRoot: REPO,
  mdns: false,
};
const ENV = `--allow-env=${GRPC_ENV_VARS.join(",")}`;

function config(text: string): DaemonConfig {
  return parseDaemonConfig(text, { baseDir: "/etc/blit", env: { HOME: "/home/blit" } });
}

const KEY = `blit-ed25519 ${new Uint8Array(32).fill(1).toBase64()}`;

const MODULES = `
[daemon]
bind = "127.0.0.1"
port = 9100
[[module]]
name = "pub"
path = "/srv/pub"
read_only = true
[[module]]
name = "inbox"
path = "/srv/inbox"
anonymous_write = true
`;

Deno.test("computeDaemonPermissions()", async (t) => {
  await t.step("reads the code and the exports, writes only writable modules", () => {
    assertEquals(computeDaemonPermissions(config(MODULES), BASE), [
      "--no-prompt",
      `--allow-read=/opt/blit,/srv/pub,/srv/inbox`,
      `--allow-write=/srv/inbox`,
      "--allow-net=127.0.0.1:9100,127.0.0.1:0",
      ENV,
      "--allow-sys=statfs",
    ]);
  });

  await t.step("writes nothing when every export is read-only", () => {
    const flags = computeDaemonPermissions(
      config(
        "[daemon]\nroot = '/srv/share'\nroot_read_only = true\nstate_dir = '/var/lib/blit'\n" +
          "[[module]]\nname = 'a'\npath = '/srv/a'\nread_only = true\n",
      ),
      BASE,
    );
    strictEqual(flags[1], "--allow-read=/opt/blit,/srv/a,/srv/share");
    strictEqual(flags[2], "--allow-net=0.0.0.0:9031,0.0.0.0:0");
  });

  await t.step("gives no write access to anonymous exports without anonymous writes", () => {
    const flags = computeDaemonPermissions(
      config("[daemon]\nroot = '/srv/share'\n[[module]]\nname = 'a'\npath = '/srv/a'\n"),
      BASE,
    );
    strictEqual(flags.some((flag) => flag.startsWith("--allow-write")), false);
  });

  await t.step("makes a root writable for anonymous writes or a writing user", () => {
    const anonymous = computeDaemonPermissions(
      config("[daemon]\nroot = '/srv/share'\nroot_anonymous_write = true\n"),
      BASE,
    );
    strictEqual(anonymous[2], `--allow-write=/srv/share`);
    const users = computeDaemonPermissions(
      config(
        `[daemon]\nroot = '/srv/share'\nroot_users = ["alice"]\n` +
          `[[user]]\nname = "alice"\npublic_key = "${KEY}"\n`,
      ),
      BASE,
    );
    strictEqual(users[2], `--allow-write=/srv/share`);
  });

  await t.step("makes a module with users writable only if one of them may write", () => {
    const text = (users: string, extra = ""): DaemonConfig =>
      config(
        `[[user]]\nname = "a"\npublic_key = "${KEY}"\n[[user]]\nname = "b"\n` +
          `public_key = "${KEY}"\n[[module]]\nname = "m"\npath = "/srv/m"\n` +
          `users = ${users}\n${extra}`,
      );
    const write = (config: DaemonConfig): string | undefined =>
      computeDaemonPermissions(config, BASE).find((flag) => flag.startsWith("--allow-write"));
    strictEqual(write(text(`["a:ro", "b"]`)), `--allow-write=/srv/m`);
    strictEqual(write(text(`["a:ro", "b:ro"]`)), undefined);
    strictEqual(write(text(`["a"]`, "read_only = true\n")), undefined);
    strictEqual(write(text("[]")), undefined);
  });

  await t.step("leaves the TLS files, the state and the audit log to the launcher", () => {
    const flags = computeDaemonPermissions(
      config(
        "[daemon]\ntls_cert = '/etc/blit/tls/cert.pem'\ntls_key = '/etc/blit/tls/key.pem'\n" +
          "state_dir = '/var/lib/blit'\naudit_log = '/var/log/blit/audit.jsonl'\n" +
          "[[module]]\nname = 'a'\npath = '/srv/a'\n",
      ),
      BASE,
    );
    assertEquals(flags.slice(1, 3), [
      "--allow-read=/opt/blit,/srv/a",
      "--allow-net=0.0.0.0:9031,0.0.0.0:0",
    ]);
  });

  await t.step("adds an outside server entry and extraRead", () => {
    const flags = computeDaemonPermissions(config(MODULES), {
      ...BASE,
      serverEntry: "/elsewhere/server.ts",
      extraRead: ["/tmp/probe"],
    });
    strictEqual(
      flags[1],
      "--allow-read=/opt/blit,/elsewhere/server.ts,/tmp/probe,/srv/pub,/srv/inbox",
    );
  });

  await t.step("drops duplicate and nested paths", () => {
    const flags = computeDaemonPermissions(
      config(
        "[daemon]\nroot = '/srv'\nroot_anonymous_write = true\nstate_dir = '/srv/.state'\n" +
          "[[module]]\nname = 'a'\npath = '/srv/a/'\nanonymous_write = true\n" +
          "[[module]]\nname = 'b'\npath = '/srv/a'\nanonymous_write = true\n" +
          "[[module]]\nname = 'c'\npath = '/srvx'\nanonymous_write = true\n",
      ),
      BASE,
    );
    strictEqual(flags[1], "--allow-read=/opt/blit,/srvx,/srv");
    strictEqual(flags[2], "--allow-write=/srvx,/srv");
  });

  await t.step("adds the mDNS endpoints, hostname and networkInterfaces", () => {
    const flags = computeDaemonPermissions(config(MODULES), { ...BASE, mdns: true });
    assertEquals(flags.slice(3), [
      "--allow-net=127.0.0.1:9100,127.0.0.1:0,0.0.0.0:5353,224.0.0.251:5353",
      ENV,
      "--allow-sys=hostname,networkInterfaces,statfs",
    ]);
  });

  await t.step("formats each bind address form", () => {
    const net = (overrides: Parameters<typeof applyDaemonOverrides>[1]): string | undefined =>
      computeDaemonPermissions(applyDaemonOverrides(config(MODULES), overrides), BASE)
        .find((flag) => flag.startsWith("--allow-net="));
    strictEqual(net({ bind: "0.0.0.0", port: 9031 }), "--allow-net=0.0.0.0:9031,0.0.0.0:0");
    strictEqual(net({ bind: "::" }), "--allow-net=[::]:9100,[::]:0");
    strictEqual(net({ port: 0 }), "--allow-net=127.0.0.1:0");
    strictEqual(net({ forceGrpcData: true }), "--allow-net=127.0.0.1:9100");
    strictEqual(
      net({ bind: "localhost" }),
      "--allow-net=localhost,127.0.0.1:9100,[::1]:9100,127.0.0.1:0,[::1]:0",
    );
  });

  await t.step("never grants run, ffi or everything", () => {
    const flags = computeDaemonPermissions(config(MODULES), { ...BASE, mdns: true });
    for (const flag of flags) {
      strictEqual(/^(-A|--allow-all|--allow-run|--allow-ffi)/.test(flag), false, flag);
      strictEqual(/^--allow-[a-z]+$/.test(flag), false, `unrestricted ${flag}`);
    }
  });

  await t.step("rejects paths Deno cannot express and relative paths", () => {
    const bad: [DaemonConfig, Partial<DaemonPermissionOptions>, RegExp][] = [
      [
        config("[[module]]\nname = 'x'\npath = '/srv/a,b'\n"),
        {},
        /"\/srv\/a,b" of module "x".*comma/,
      ],
      [config("[daemon]\nroot = '/srv/a,b'\n"), {}, /of the root contains a comma/],
      [config(MODULES), { repoRoot: "/opt/bl,it" }, /of repoRoot contains a comma/],
      [
        config(MODULES),
        { serverEntry: "server.ts" },
        /"server\.ts" of serverEntry is not absolute/,
      ],
      [{ ...config(MODULES), bind: "nas" }, {}, /bind "nas" is not an IP address/],
    ];
    for (const [input, options, pattern] of bad) {
      assertThrows(() => computeDaemonPermissions(input, { ...BASE, ...options }), (e: unknown) => {
        strictEqual(e instanceof TypeError, true);
        const message = (e as Error).message;
        strictEqual(message.startsWith("Cannot compute daemon permissions: "), true, message);
        strictEqual(message.includes("\n"), false, message);
        strictEqual(pattern.test(message), true, message);
        return true;
      });
    }
  });
});

Deno.test("formatPermissions()", async (t) => {
  await t.step("prints one flag per line, quoting when needed", () => {
    strictEqual(
      formatPermissions(["--no-prompt", "--allow-read=/a b,/c", "--allow-write=/it's"]),
      "--no-prompt\n'--allow-read=/a b,/c'\n'--allow-write=/it'\\''s'\n",
    );
    strictEqual(formatPermissions([]), "");
  });
});

const PROBE = `
const [roFile, roDir, rwDir, outsideFile, outsideDir] = Deno.args;
async function attempt(fn) {
  try {
    await fn();
    return "ok";
  } catch (error) {
    return error.name;
  }
}
const result = {
  readReadOnly: await attempt(() => Deno.readTextFile(roFile)),
  writeReadOnly: await attempt(() => Deno.writeTextFile(roDir + "/new.txt", "x")),
  writeWritable: await attempt(() => Deno.writeTextFile(rwDir + "/new.txt", "x")),
  readOutside: await attempt(() => Deno.readTextFile(outsideFile)),
  writeOutside: await attempt(() => Deno.writeTextFile(outsideDir + "/new.txt", "x")),
  listenEphemeral: await attempt(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }).close()),
  listenOtherPort: await attempt(() => Deno.listen({ hostname: "127.0.0.1", port: 1 }).close()),
  envGrpc: await attempt(() => Deno.env.get("GRPC_TRACE")),
  envOther: await attempt(() => Deno.env.get("HOME")),
  run: await attempt(() => new Deno.Command("true").output()),
};
console.log(JSON.stringify(result));
`;

const canRun =
  (await Deno.permissions.query({ name: "run", command: Deno.execPath() })).state === "granted";

Deno.test({
  name: "computeDaemonPermissions() flags confine a real deno process",
  ignore: !canRun,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "blit-" }));
    try {
      for (const sub of ["ro", "rw", "outside", "probe"]) await Deno.mkdir(`${dir}/${sub}`);
      await Deno.writeTextFile(`${dir}/ro/file.txt`, "public");
      await Deno.writeTextFile(`${dir}/outside/secret.txt`, "secret");
      await Deno.writeTextFile(`${dir}/probe/probe.js`, PROBE);
      const repoRoot = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
      const daemon = parseDaemonConfig(
        `[daemon]\nbind = "127.0.0.1"\nstate_dir = "${dir}/state"\n` +
          `[[module]]\nname = "ro"\npath = "${dir}/ro"\n` +
          `read_only = true\n[[module]]\nname = "rw"\npath = "${dir}/rw"\n` +
          `anonymous_write = true\n`,
      );
      const flags = computeDaemonPermissions(daemon, {
        serverEntry: `${repoRoot}/daemon/server.ts`,
        repoRoot,
        mdns: false,
        extraRead: [`${dir}/probe`],
      });
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-config",
          ...flags,
          `${dir}/probe/probe.js`,
          `${dir}/ro/file.txt`,
          `${dir}/ro`,
          `${dir}/rw`,
          `${dir}/outside/secret.txt`,
          `${dir}/outside`,
        ],
        stdin: "null",
      }).output();
      const decoder = new TextDecoder();
      strictEqual(code, 0, decoder.decode(stderr));
      assertEquals(JSON.parse(decoder.decode(stdout)), {
        readReadOnly: "ok",
        writeReadOnly: "NotCapable",
        writeWritable: "ok",
        readOutside: "NotCapable",
        writeOutside: "NotCapable",
        listenEphemeral: "ok",
        listenOtherPort: "NotCapable",
        envGrpc: "ok",
        envOther: "NotCapable",
        run: "NotCapable",
      });
      strictEqual(await Deno.readTextFile(`${dir}/rw/new.txt`), "x");
      await assertRejectsNotFound(`${dir}/ro/new.txt`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function assertRejectsNotFound(path: string): Promise<void> {
  try {
    await Deno.stat(path);
  } catch (error) {
    strictEqual(error instanceof Deno.errors.NotFound, true);
    return;
  }
  throw new Error(`Cannot confirm confinement: "${path}" was written`);
}
