import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { startDaemon, type TestDaemon } from "./_daemon.ts";
import { openSecureChannel, type SecureChannel } from "../core/client_security.ts";
import { parseHostAddress } from "../core/endpoint.ts";
import { openTransferStream } from "../core/session/remote.ts";
import { blitChannelOptions, BlitClientClass } from "../core/transport/grpc_service.ts";
import { PROTOCOL_VERSION } from "../core/transport/protocol.ts";
import { streamFramePort } from "../core/transport/stream_port.ts";
import {
  assertNoStack,
  makeTree,
  readTree,
  runBlit,
  setMtime,
  type TreeEntry,
  withTempDir,
} from "./_helpers.ts";
import { CLIENT_FRAME_CODEC } from "../core/transport/frame_tables.ts";

const T0 = Date.UTC(2023, 5, 6, 7, 8, 9, 123);

/** The daemon's channel as the CLI opens it (the tests' known hosts pin its certificate). */
function channelTo(daemon: TestDaemon): Promise<SecureChannel> {
  return openSecureChannel(parseHostAddress(daemon.address), {}, () => {});
}

function bigBytes(size: number, seed: number): Uint8Array {
  const data = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i += 4) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x & 0xff;
  }
  return data;
}

async function sampleTree(root: string): Promise<void> {
  await makeTree(root, {
    "small.txt": "small",
    "sub/one.txt": "one",
    "sub/deep/two.txt": "two",
    "empty": { dir: true },
  });
  for (let i = 0; i < 40; i++) await Deno.writeTextFile(`${root}/sub/f${i}.txt`, `file ${i}`);
  await Deno.writeFile(`${root}/big.bin`, bigBytes(3 * 1024 * 1024 + 7, 1));
  await Deno.chmod(`${root}/sub/one.txt`, 0o640);
  await setMtime(`${root}/small.txt`, T0);
  await setMtime(`${root}/big.bin`, T0 + 1000);
  await setMtime(`${root}/sub/deep`, T0 + 2000);
}

/** The tree without links, big contents replaced by a short digest (readable diffs). */
function files(tree: Record<string, TreeEntry>): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  for (const [k, v] of Object.entries(tree)) {
    if (v.kind === "symlink") continue;
    const content = v.content;
    if (content !== undefined && content.length > 64) {
      let h = 0;
      for (let i = 0; i < content.length; i++) h = (h * 31 + content.charCodeAt(i)) >>> 0;
      out[k] = { ...v, content: `${content.length} bytes, digest ${h}` };
    } else out[k] = v;
  }
  return out;
}

async function withDaemon(
  fn: (dir: string, daemon: TestDaemon) => Promise<void>,
  extra: string[] = [],
): Promise<void> {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/mod`);
    await Deno.mkdir(`${dir}/ro`);
    await Deno.writeTextFile(`${dir}/ro/readme.txt`, "read only");
    const daemon = await startDaemon(dir, [
      { name: "mod", path: `${dir}/mod` },
      { name: "ro", path: `${dir}/ro`, readOnly: true },
    ], extra);
    try {
      await fn(dir, daemon);
    } finally {
      await daemon.stop();
    }
  });
}

Deno.test({
  name: "remote push and pull: copy preserves bytes, mtimes, modes and empty dirs",
  sanitizeResources: false,
  fn: async (t) => {
    await withDaemon(async (dir, daemon) => {
      await sampleTree(`${dir}/src`);
      const want = files(await readTree(`${dir}/src`));
      await t.step("push over the data plane", async () => {
        const r = await runBlit([
          "copy",
          `${dir}/src/`,
          `${daemon.address}:/mod/pushed/`,
          "--json",
        ]);
        equal(r.code, 0, r.stderr);
        const s = JSON.parse(r.stdout);
        equal(s.files_transferred, 44);
        deepStrictEqual(files(await readTree(`${dir}/mod/pushed`)), want);
      });
      await t.step("a second push is up to date", async () => {
        const r = await runBlit([
          "copy",
          `${dir}/src/`,
          `${daemon.address}:/mod/pushed/`,
          "--json",
        ]);
        equal(r.code, 0, r.stderr);
        equal(JSON.parse(r.stdout).outcome, "up_to_date");
      });
      await t.step("pull over the data plane", async () => {
        const r = await runBlit([
          "copy",
          `${daemon.address}:/mod/pushed/`,
          `${dir}/pulled`,
          "--json",
        ]);
        equal(r.code, 0, r.stderr);
        deepStrictEqual(files(await readTree(`${dir}/pulled`)), want);
      });
      await t.step("pull without a trailing slash creates DST/<name>", async () => {
        await Deno.mkdir(`${dir}/into`);
        const r = await runBlit(["copy", `${daemon.address}:/mod/pushed`, `${dir}/into`]);
        equal(r.code, 0, r.stderr);
        deepStrictEqual(files(await readTree(`${dir}/into/pushed`)), want);
      });
      await t.step("push of a single file and pull of a single file", async () => {
        const r = await runBlit([
          "copy",
          `${dir}/src/small.txt`,
          `${daemon.address}:/mod/single.txt`,
        ]);
        equal(r.code, 0, r.stderr);
        equal(await Deno.readTextFile(`${dir}/mod/single.txt`), "small");
        const p = await runBlit([
          "copy",
          `${daemon.address}:/mod/single.txt`,
          `${dir}/single-back.txt`,
        ]);
        equal(p.code, 0, p.stderr);
        equal(await Deno.readTextFile(`${dir}/single-back.txt`), "small");
      });
      await t.step("forced gRPC carrier, both directions", async () => {
        const r = await runBlit([
          "copy",
          `${dir}/src/`,
          `${daemon.address}:/mod/grpc/`,
          "--force-grpc",
          "--json",
        ]);
        equal(r.code, 0, r.stderr);
        deepStrictEqual(files(await readTree(`${dir}/mod/grpc`)), want);
        const p = await runBlit([
          "copy",
          `${daemon.address}:/mod/grpc/`,
          `${dir}/grpc-back`,
          "--force-grpc",
        ]);
        equal(p.code, 0, p.stderr);
        deepStrictEqual(files(await readTree(`${dir}/grpc-back`)), want);
      });
      await t.step("automatic fallback when the data port cannot be reached", async () => {
        // The client may only reach the control port: dialling the data port is refused.
        const r = await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/mod/fallback/`], {
          netAllow: daemon.address,
        });
        equal(r.code, 0, r.stderr);
        match(r.stderr, /cannot reach the data port .* control stream/);
        deepStrictEqual(files(await readTree(`${dir}/mod/fallback`)), want);
        const p = await runBlit([
          "copy",
          `${daemon.address}:/mod/fallback/`,
          `${dir}/fallback-back`,
        ], {
          netAllow: daemon.address,
        });
        equal(p.code, 0, p.stderr);
        deepStrictEqual(files(await readTree(`${dir}/fallback-back`)), want);
      });
    });
  },
});

Deno.test({
  name: "remote mirror and move, both directions",
  sanitizeResources: false,
  fn: async (t) => {
    await withDaemon(async (dir, daemon) => {
      await makeTree(`${dir}/src`, { "keep.txt": "k", "d/x.txt": "x" });
      await makeTree(`${dir}/mod/m`, { "extra.txt": "e", "d/stale.txt": "s", "keep.txt": "old" });
      await t.step("push mirror without --yes deletes nothing and exits 2", async () => {
        const r = await runBlit(["mirror", `${dir}/src/`, `${daemon.address}:/mod/m/`]);
        equal(r.code, 2, r.stderr);
        match(r.stderr, /not confirmed/);
        ok(await Deno.readTextFile(`${dir}/mod/m/extra.txt`));
        equal(await Deno.readTextFile(`${dir}/mod/m/keep.txt`), "k");
      });
      await t.step("push mirror --yes deletes extras", async () => {
        const r = await runBlit([
          "mirror",
          `${dir}/src/`,
          `${daemon.address}:/mod/m/`,
          "--yes",
          "--json",
        ]);
        equal(r.code, 0, r.stderr);
        equal(JSON.parse(r.stdout).entries_deleted, 2);
        deepStrictEqual(Object.keys(await readTree(`${dir}/mod/m`)), ["d", "d/x.txt", "keep.txt"]);
      });
      await t.step("pull mirror --yes deletes local extras", async () => {
        await makeTree(`${dir}/local`, { "junk.txt": "j" });
        const r = await runBlit(["mirror", `${daemon.address}:/mod/m/`, `${dir}/local`, "--yes"]);
        equal(r.code, 0, r.stderr);
        deepStrictEqual(Object.keys(await readTree(`${dir}/local`)), ["d", "d/x.txt", "keep.txt"]);
      });
      await t.step("push move removes local sources after the copy", async () => {
        await makeTree(`${dir}/tomove`, { "a.txt": "a", "b/c.txt": "c" });
        const r = await runBlit(["move", `${dir}/tomove`, `${daemon.address}:/mod/`]);
        equal(r.code, 0, r.stderr);
        equal(await Deno.readTextFile(`${dir}/mod/tomove/b/c.txt`), "c");
        let gone = false;
        await Deno.lstat(`${dir}/tomove`).catch(() => (gone = true));
        ok(gone, "the local source tree is gone");
      });
      await t.step("pull move removes the remote sources after the local copy landed", async () => {
        const r = await runBlit([
          "move",
          `${daemon.address}:/mod/tomove/`,
          `${dir}/moved`,
          "--json",
        ]);
        equal(r.code, 0, r.stderr);
        equal(JSON.parse(r.stdout).sources_removed, 2);
        equal(await Deno.readTextFile(`${dir}/moved/b/c.txt`), "c");
        deepStrictEqual(await readTree(`${dir}/mod/tomove`), {});
      });
    });
  },
});

Deno.test({
  name: "remote refusals: read-only, unknown module, escapes, links",
  sanitizeResources: false,
  fn: async (t) => {
    await withDaemon(async (dir, daemon) => {
      await makeTree(`${dir}/src`, { "a.txt": "a" });
      await makeTree(`${dir}/outside`, { "secret.txt": "secret" });
      await Deno.symlink(`${dir}/outside`, `${dir}/mod/escape`);
      await Deno.symlink("a.txt", `${dir}/src/link`);
      const refused = async (args: string[], pattern: RegExp) => {
        const r = await runBlit(args);
        equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
        match(r.stderr, pattern);
        equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assertNoStack(r.stderr);
      };
      await t.step("push to a read-only module", async () => {
        await refused(["copy", `${dir}/src/`, `${daemon.address}:/ro/x/`], /READ_ONLY/);
        deepStrictEqual(Object.keys(await readTree(`${dir}/ro`)), ["readme.txt"]);
      });
      await t.step("move from a read-only module", async () => {
        await refused(["move", `${daemon.address}:/ro/`, `${dir}/ro-pull`], /READ_ONLY/);
        ok(await Deno.readTextFile(`${dir}/ro/readme.txt`));
      });
      await t.step("pull from a read-only module works", async () => {
        const r = await runBlit(["copy", `${daemon.address}:/ro/`, `${dir}/ro-copy`]);
        equal(r.code, 0, r.stderr);
        equal(await Deno.readTextFile(`${dir}/ro-copy/readme.txt`), "read only");
      });
      await t.step("unknown module", async () => {
        await refused(["copy", `${daemon.address}:/nope/`, `${dir}/x`], /permission denied/);
      });
      await t.step("traversal in the remote path is rejected", async () => {
        await refused(["copy", `${daemon.address}:/mod/../etc/`, `${dir}/x`], /\.\./);
      });
      await t.step("a symlink leading out of the module is not followed on pull", async () => {
        await refused(
          ["copy", `${daemon.address}:/mod/escape/secret.txt`, `${dir}/x`],
          /PATH_INVALID/,
        );
        let exists = true;
        await Deno.lstat(`${dir}/x`).catch(() => (exists = false));
        equal(exists, false);
      });
      await t.step(
        "a symlink leading out of the module is not written through on push",
        async () => {
          await refused(
            ["copy", `${dir}/src/`, `${daemon.address}:/mod/escape/planted/`],
            /PATH_INVALID/,
          );
          deepStrictEqual(Object.keys(await readTree(`${dir}/outside`)), ["secret.txt"]);
        },
      );
      await t.step(
        "pulling a tree that holds the escaping link copies the link, not the target",
        async () => {
          const r = await runBlit(["copy", `${daemon.address}:/mod/`, `${dir}/modcopy`]);
          equal(r.code, 0, r.stderr);
          const tree = await readTree(`${dir}/modcopy`);
          equal(tree["escape"]?.kind, "symlink");
          ok(!tree["escape/secret.txt"]);
        },
      );
      await t.step(
        "the sandboxed daemon refuses to create links, with a clear message",
        async () => {
          const r = await runBlit([
            "copy",
            `${dir}/src/`,
            `${daemon.address}:/mod/links/`,
            "--json",
          ]);
          equal(r.code, 2, r.stderr);
          const s = JSON.parse(r.stdout);
          equal(s.failures[0].path, "link");
          match(s.failures[0].message, /symlink/);
          equal(await Deno.readTextFile(`${dir}/mod/links/a.txt`), "a");
        },
      );
      ok(daemon.running(), "the daemon survived every refusal");
    });
  },
});

Deno.test({
  name:
    "remote: an abruptly killed client leaves no truncated file under a final name, and the daemon keeps serving",
  sanitizeResources: false,
  fn: async () => {
    await withDaemon(async (dir, daemon) => {
      await Deno.mkdir(`${dir}/src`);
      const big = bigBytes(48 * 1024 * 1024, 7);
      for (let i = 0; i < 6; i++) await Deno.writeFile(`${dir}/src/big${i}`, big);
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../cli/main.ts", import.meta.url).pathname,
          "copy",
          `${dir}/src/`,
          `${daemon.address}:/mod/killed/`,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await new Promise((r) => setTimeout(r, 700));
      try {
        child.kill("SIGKILL");
      } catch { /* finished already */ }
      await child.status;
      await new Promise((r) => setTimeout(r, 300));
      ok(daemon.running(), "daemon alive after the client died");
      try {
        for await (const e of Deno.readDir(`${dir}/mod/killed`)) {
          // Temporaries, and partial files the rerun resumes.
          if (e.name.startsWith(".blit-")) continue;
          equal((await Deno.stat(`${dir}/mod/killed/${e.name}`)).size, big.length, e.name);
        }
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      const r = await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/mod/killed/`]);
      equal(r.code, 0, r.stderr);
      const names: string[] = [];
      for await (const e of Deno.readDir(`${dir}/mod/killed`)) names.push(e.name);
      deepStrictEqual(names.sort(), ["big0", "big1", "big2", "big3", "big4", "big5"]);
    });
  },
});

Deno.test({
  name: "remote: a gRPC Transfer call (an older client) is refused with one line naming the fix",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withDaemon(async (_dir, daemon) => {
      const channel = await channelTo(daemon);
      const { credentials, options } = await channel.grpcChannel();
      const client = new BlitClientClass(daemon.address, credentials, {
        ...blitChannelOptions(),
        ...options,
      });
      try {
        const call = client.transfer();
        const error = await new Promise<Error & { code?: number }>((resolve) => {
          call.on("error", resolve);
          call.on("data", () => {});
        });
        equal(error.code, 12, error.message); // UNIMPLEMENTED
        match(
          error.message,
          new RegExp(
            `Cannot transfer over gRPC: this daemon speaks protocol ${PROTOCOL_VERSION}; upgrade blit`,
          ),
        );
      } finally {
        client.close();
      }
    });
  },
});

Deno.test({
  name: "remote: a Hello of another protocol version is refused with one line naming the fix",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withDaemon(async (_dir, daemon) => {
      const stream = await openTransferStream(await channelTo(daemon), 10_000);
      const port = streamFramePort(stream, CLIENT_FRAME_CODEC, { idleTimeoutMs: 10_000 });
      try {
        // The Challenge comes first, without waiting for the Hello.
        const challenge = await port.nextRaw(10_000);
        equal(challenge?.case, "challenge");
        await port.sendRaw({ case: "hello", value: { protocolVersion: 5, clientName: "old" } });
        const reply = await port.nextRaw(10_000);
        equal(reply?.case, "refuse");
        if (reply?.case !== "refuse") return;
        match(
          reply.value.message,
          new RegExp(
            `^Cannot talk protocol 5: this daemon speaks ${PROTOCOL_VERSION}; upgrade the older side$`,
          ),
        );
      } finally {
        stream.destroy();
      }
    });
  },
});
