// Resume through the real CLI and a real daemon: an interrupted large file leaves a partial file
// that the next run of the same source version continues (locally, on a push and on a pull),
// after SIGKILL of the client, SIGKILL of the daemon's server and Ctrl-C; a changed source or an
// old partial is removed, never used; two runs into one directory do not remove each other's
// temporaries.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { withModuleDaemon } from "./_daemon.ts";
import { makeTree, readTree, runBlit, setMtime, spawnBlit, withTempDir } from "./_helpers.ts";
import { findServerPid } from "./hostile/_process.ts";
import { lstatOrNull, PARTIAL_PREFIX, partialName } from "../core/tree.ts";

const MIB = 1024 * 1024;
const T0 = Date.UTC(2024, 5, 6, 7, 8, 9, 100);

/** Writes `size` pseudo-random bytes (distinct blocks) to `path`, with mtime T0. */
async function bigFile(path: string, size: number, seed: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(MIB);
  let x = seed;
  for (let at = 0; at < size; at += MIB) {
    for (let i = 0; i < chunk.length; i += 4) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      chunk[i] = x >>> 24;
      chunk[i + 1] = x >>> 16;
      chunk[i + 2] = x >>> 8;
      chunk[i + 3] = x;
    }
    const part = chunk.subarray(0, Math.min(MIB, size - at));
    let off = 0;
    while (off < part.length) off += await file.write(part.subarray(off));
  }
  await setMtime(path, T0);
}

/** The partial files in `dir`, with their sizes. */
function partials(dir: string): { name: string; size: number }[] {
  const out: { name: string; size: number }[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.name.startsWith(PARTIAL_PREFIX)) {
      out.push({ name: entry.name, size: Deno.statSync(`${dir}/${entry.name}`).size });
    }
  }
  return out;
}

/** Waits until a partial file in `dir` holds at least `bytes`, then kills `pid`. */
async function killOnceWritten(dir: string, bytes: number, kill: () => void): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if (partials(dir).some((p) => p.size >= bytes)) return kill();
    } catch { /* not created yet */ }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`no partial file of ${bytes} bytes appeared in ${dir}`);
}

/** Two files are equal, byte for byte. */
async function sameBytes(a: string, b: string): Promise<boolean> {
  const out = await new Deno.Command("cmp", { args: ["-s", a, b] }).output();
  return out.code === 0;
}

interface Summary {
  files_transferred: number;
  bytes_on_wire: number;
  files_failed: number;
}

function summaryOf(stdout: string): Summary {
  return JSON.parse(stdout) as Summary;
}

/** A free TCP port on 127.0.0.1 (for a daemon that must come back on the same port). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

const SIZE = 256 * MIB;

Deno.test("resume: a pull killed midway continues from its partial file", async () => {
  await withModuleDaemon(async (dir, daemon) => {
    await Deno.mkdir(`${dir}/mod/src`);
    await bigFile(`${dir}/mod/src/big.bin`, SIZE, 1);
    await Deno.mkdir(`${dir}/dst`);
    const from = `${daemon.address}:/mod/src/`;
    const run = spawnBlit(["copy", from, `${dir}/dst/`]);
    await killOnceWritten(`${dir}/dst`, SIZE / 3, () => run.child.kill("SIGKILL"));
    await run.result;
    const [left] = partials(`${dir}/dst`);
    ok(left !== undefined && left.size >= SIZE / 3, "the partial file stays after SIGKILL");
    const again = await runBlit(["copy", "--json", from, `${dir}/dst/`]);
    equal(again.code, 0, again.stderr);
    const summary = summaryOf(again.stdout);
    ok(
      summary.bytes_on_wire < SIZE - left.size + 4 * MIB,
      `${summary.bytes_on_wire} on the wire, ${left.size} of ${SIZE} were there`,
    );
    ok(await sameBytes(`${dir}/mod/src/big.bin`, `${dir}/dst/big.bin`));
    deepStrictEqual(partials(`${dir}/dst`), [], "no partial left");
  });
});

Deno.test("resume: a push killed midway continues from the daemon's partial file", async () => {
  await withModuleDaemon(async (dir, daemon) => {
    await Deno.mkdir(`${dir}/src`);
    await bigFile(`${dir}/src/big.bin`, SIZE, 2);
    await Deno.mkdir(`${dir}/mod/up`);
    const to = `${daemon.address}:/mod/up/`;
    const run = spawnBlit(["copy", `${dir}/src/`, to]);
    await killOnceWritten(`${dir}/mod/up`, SIZE / 3, () => run.child.kill("SIGKILL"));
    await run.result;
    // The daemon sees the connection drop and keeps what it wrote.
    let left = partials(`${dir}/mod/up`)[0];
    for (let i = 0; i < 200 && left === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      left = partials(`${dir}/mod/up`)[0];
    }
    ok(left !== undefined && left.size >= SIZE / 3, "the daemon keeps the partial file");
    const again = await runBlit(["copy", "--json", `${dir}/src/`, to]);
    equal(again.code, 0, again.stderr);
    const summary = summaryOf(again.stdout);
    ok(summary.bytes_on_wire < SIZE - left.size + 4 * MIB, `${summary.bytes_on_wire} on the wire`);
    ok(await sameBytes(`${dir}/src/big.bin`, `${dir}/mod/up/big.bin`));
    deepStrictEqual(partials(`${dir}/mod/up`), [], "no partial left");
  });
});

Deno.test("resume: a push whose daemon server is killed continues after the restart", async () => {
  const port = freePort();
  await withModuleDaemon(async (dir, daemon) => {
    await Deno.mkdir(`${dir}/src`);
    await bigFile(`${dir}/src/big.bin`, SIZE, 3);
    await Deno.mkdir(`${dir}/mod/up`);
    const server = await findServerPid(daemon.pid);
    const to = `${daemon.address}:/mod/up/`;
    const run = spawnBlit(["copy", `${dir}/src/`, to]);
    await killOnceWritten(`${dir}/mod/up`, SIZE / 3, () => Deno.kill(server, "SIGKILL"));
    const first = await run.result;
    ok(first.code !== 0, "the push fails when the server dies");
    const [left] = partials(`${dir}/mod/up`);
    ok(left !== undefined, "the killed server's partial file stays");
    // The supervisor restarts the server on the same port.
    let again = await runBlit(["copy", "--json", `${dir}/src/`, to]);
    for (let i = 0; i < 40 && again.code !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      again = await runBlit(["copy", "--json", `${dir}/src/`, to]);
    }
    equal(again.code, 0, again.stderr);
    ok(summaryOf(again.stdout).bytes_on_wire < SIZE - left.size + 4 * MIB);
    ok(await sameBytes(`${dir}/src/big.bin`, `${dir}/mod/up/big.bin`));
    deepStrictEqual(partials(`${dir}/mod/up`), []);
  }, [`port = ${port}`]);
});

Deno.test("resume: Ctrl-C says so in one line, exits 130 and the rerun continues", async () => {
  await withModuleDaemon(async (dir, daemon) => {
    await Deno.mkdir(`${dir}/mod/src`);
    await bigFile(`${dir}/mod/src/big.bin`, SIZE, 4);
    await Deno.mkdir(`${dir}/dst`);
    const from = `${daemon.address}:/mod/src/`;
    const run = spawnBlit(["copy", from, `${dir}/dst/`]);
    await killOnceWritten(`${dir}/dst`, SIZE / 8, () => run.child.kill("SIGINT"));
    const result = await run.result;
    equal(result.code, 130, result.stderr);
    match(result.stderr, /^interrupted: \d+ files? done; partial files kept for resume$/m);
    ok(!/^\s+at /m.test(result.stderr), result.stderr);
    const [left] = partials(`${dir}/dst`);
    ok(left !== undefined, `the partial file stays (${result.stderr.trim()})`);
    const again = await runBlit(["copy", "--json", from, `${dir}/dst/`]);
    equal(again.code, 0, again.stderr);
    ok(summaryOf(again.stdout).bytes_on_wire < SIZE - left.size + 4 * MIB);
    ok(await sameBytes(`${dir}/mod/src/big.bin`, `${dir}/dst/big.bin`));
  });
});

Deno.test("resume: a push stopped by Ctrl-C continues from the daemon's partial file", async () => {
  await withModuleDaemon(async (dir, daemon) => {
    await Deno.mkdir(`${dir}/src`);
    await bigFile(`${dir}/src/big.bin`, SIZE, 9);
    await Deno.mkdir(`${dir}/mod/up`);
    const to = `${daemon.address}:/mod/up/`;
    const run = spawnBlit(["copy", `${dir}/src/`, to]);
    await killOnceWritten(`${dir}/mod/up`, SIZE / 8, () => run.child.kill("SIGINT"));
    const result = await run.result;
    equal(result.code, 130, result.stderr);
    match(result.stderr, /^interrupted: \d+ files? done; partial files kept for resume$/m);
    let left = partials(`${dir}/mod/up`)[0];
    for (let i = 0; i < 200 && left === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      left = partials(`${dir}/mod/up`)[0];
    }
    ok(left !== undefined, "the daemon keeps the partial file");
    const again = await runBlit(["copy", "--json", `${dir}/src/`, to]);
    equal(again.code, 0, again.stderr);
    ok(summaryOf(again.stdout).bytes_on_wire < SIZE - left.size + 4 * MIB);
    ok(await sameBytes(`${dir}/src/big.bin`, `${dir}/mod/up/big.bin`));
  });
});

Deno.test("resume: a pull whose daemon server is killed continues after the restart", async () => {
  const port = freePort();
  await withModuleDaemon(async (dir, daemon) => {
    await Deno.mkdir(`${dir}/mod/src`);
    await bigFile(`${dir}/mod/src/big.bin`, SIZE, 10);
    await Deno.mkdir(`${dir}/dst`);
    const server = await findServerPid(daemon.pid);
    const from = `${daemon.address}:/mod/src/`;
    const run = spawnBlit(["copy", from, `${dir}/dst/`]);
    await killOnceWritten(`${dir}/dst`, SIZE / 3, () => Deno.kill(server, "SIGKILL"));
    const first = await run.result;
    ok(first.code !== 0, "the pull fails when the server dies");
    ok(!/^\s+at /m.test(first.stderr), first.stderr);
    const [left] = partials(`${dir}/dst`);
    ok(left !== undefined && left.size >= SIZE / 3, "the client keeps its partial file");
    let again = await runBlit(["copy", "--json", from, `${dir}/dst/`]);
    for (let i = 0; i < 40 && again.code !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      again = await runBlit(["copy", "--json", from, `${dir}/dst/`]);
    }
    equal(again.code, 0, again.stderr);
    ok(summaryOf(again.stdout).bytes_on_wire < SIZE - left.size + 4 * MIB);
    ok(await sameBytes(`${dir}/mod/src/big.bin`, `${dir}/dst/big.bin`));
    deepStrictEqual(partials(`${dir}/dst`), []);
  }, [`port = ${port}`]);
});

Deno.test("resume: a local copy continues the partial file of the same source version", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/src`);
    await Deno.mkdir(`${dir}/dst`);
    const size = 24 * MIB + 5;
    await bigFile(`${dir}/src/big.bin`, size, 5);
    const name = partialName("big.bin", { size, mtimeMs: T0 }) as string;
    // What a killed run leaves: the first 10 MiB, then a torn tail of zeros.
    const source = await Deno.readFile(`${dir}/src/big.bin`);
    const torn = new Uint8Array(12 * MIB);
    torn.set(source.subarray(0, 10 * MIB));
    await Deno.writeFile(`${dir}/dst/${name}`, torn);
    await setMtime(`${dir}/dst/${name}`, Date.now() - 60_000);
    const inode = Deno.statSync(`${dir}/dst/${name}`).ino;
    const r = await runBlit(["copy", "--json", `${dir}/src/`, `${dir}/dst/`]);
    equal(r.code, 0, r.stderr);
    ok(await sameBytes(`${dir}/src/big.bin`, `${dir}/dst/big.bin`));
    equal(Deno.statSync(`${dir}/dst/big.bin`).ino, inode, "the partial file became the file");
    equal(Deno.statSync(`${dir}/dst/big.bin`).mtime?.getTime(), T0);
    deepStrictEqual(partials(`${dir}/dst`), []);
  });
});

Deno.test("resume: a local copy killed midway, or stopped by Ctrl-C, continues from its partial file", async (t) => {
  for (const signal of ["SIGKILL", "SIGINT"] as const) {
    await t.step(signal, async () => {
      await withTempDir(async (dir) => {
        await Deno.mkdir(`${dir}/src`);
        await Deno.mkdir(`${dir}/dst`);
        const size = 48 * MIB;
        await bigFile(`${dir}/src/big.bin`, size, signal === "SIGKILL" ? 11 : 12);
        // Paced, so that the run is still writing when it is stopped.
        const run = spawnBlit(["copy", "--bwlimit", "32M", `${dir}/src/`, `${dir}/dst/`]);
        await killOnceWritten(`${dir}/dst`, 8 * MIB, () => run.child.kill(signal));
        const result = await run.result;
        if (signal === "SIGINT") {
          equal(result.code, 130, result.stderr);
          match(result.stderr, /^interrupted: \d+ files? done; partial files kept for resume$/m);
          ok(!/^\s+at /m.test(result.stderr), result.stderr);
        }
        const [left] = partials(`${dir}/dst`);
        ok(left !== undefined && left.size >= 8 * MIB, `the partial file stays (${result.stderr})`);
        equal(lstatOrNull(`${dir}/dst/big.bin`), null, "the final name never holds a partial file");
        const inode = Deno.statSync(`${dir}/dst/${left.name}`).ino;
        const again = await runBlit(["copy", `${dir}/src/`, `${dir}/dst/`]);
        equal(again.code, 0, again.stderr);
        ok(await sameBytes(`${dir}/src/big.bin`, `${dir}/dst/big.bin`));
        equal(Deno.statSync(`${dir}/dst/big.bin`).ino, inode, "the partial file became the file");
        deepStrictEqual(partials(`${dir}/dst`), []);
      });
    });
  }
});

Deno.test("resume: a partial file of another source version, or too old, is removed, never used", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/src`);
    await Deno.mkdir(`${dir}/dst`);
    const size = 10 * MIB;
    await bigFile(`${dir}/src/a.bin`, size, 6);
    await bigFile(`${dir}/src/b.bin`, size, 7);
    // a.bin's partial belongs to an older version (another mtime); b.bin's is 8 days old.
    const changed = partialName("a.bin", { size, mtimeMs: T0 - 1000 }) as string;
    const old = partialName("b.bin", { size, mtimeMs: T0 }) as string;
    const unrelated = partialName("gone.bin", { size, mtimeMs: T0 }) as string;
    await makeTree(`${dir}/dst`, { [changed]: "xx", [old]: "yy", [unrelated]: "zz" });
    await setMtime(`${dir}/dst/${changed}`, Date.now() - 60_000);
    await setMtime(`${dir}/dst/${old}`, Date.now() - 8 * 24 * 3600_000);
    const r = await runBlit(["copy", `${dir}/src/`, `${dir}/dst/`]);
    equal(r.code, 0, r.stderr);
    ok(await sameBytes(`${dir}/src/a.bin`, `${dir}/dst/a.bin`));
    ok(await sameBytes(`${dir}/src/b.bin`, `${dir}/dst/b.bin`));
    // A partial of a file this run does not write (a later run may) stays, until it is too old.
    deepStrictEqual(partials(`${dir}/dst`).map((p) => p.name), [unrelated]);
    // mirror never deletes it as an extra entry either.
    const m = await runBlit(["mirror", "--yes", `${dir}/src/`, `${dir}/dst/`]);
    equal(m.code, 0, m.stderr);
    deepStrictEqual(partials(`${dir}/dst`).map((p) => p.name), [unrelated]);
  });
});

Deno.test("temporaries: two runs into one directory never remove each other's", async () => {
  await withModuleDaemon(async (dir, daemon) => {
    const spec = (tag: string) =>
      Object.fromEntries(
        Array.from({ length: 800 }, (_, i) => [`f${String(i).padStart(4, "0")}-${tag}`, tag]),
      );
    await makeTree(`${dir}/a`, spec("a"));
    await makeTree(`${dir}/b`, spec("b"));
    await Deno.mkdir(`${dir}/big`);
    await bigFile(`${dir}/big/big.bin`, SIZE / 2, 8);
    // A push is writing a large file when a local copy lists the same directory: the copy must
    // leave the push's temporary alone (before, it removed it and the push failed).
    const target = `${dir}/mod/t`;
    await Deno.mkdir(target);
    const push = spawnBlit(["copy", `${dir}/big/`, `${daemon.address}:/mod/t/`]);
    await killOnceWritten(target, 16 * MIB, () => {});
    const local = await runBlit(["copy", `${dir}/a/`, `${target}/`]);
    equal(local.code, 0, local.stderr);
    const pushed = await push.result;
    equal(pushed.code, 0, pushed.stderr);
    ok(await sameBytes(`${dir}/big/big.bin`, `${target}/big.bin`));
    // And many small files from both at once, twice.
    for (let round = 0; round < 2; round++) {
      const into = `${dir}/mod/s${round}`;
      await Deno.mkdir(into);
      const [a, b] = await Promise.all([
        runBlit(["copy", `${dir}/a/`, `${into}/`]),
        runBlit(["copy", `${dir}/b/`, `${daemon.address}:/mod/s${round}/`]),
      ]);
      equal(a.code, 0, a.stderr);
      equal(b.code, 0, b.stderr);
    }
    for (const into of [target, `${dir}/mod/s0`, `${dir}/mod/s1`]) {
      const got = Object.keys(await readTree(into));
      equal(got.filter((k) => k.startsWith(".blit-")).length, 0);
      equal(got.length, into === target ? 801 : 1600);
    }
  });
});

Deno.test("resume: a push over the control stream (--force-grpc) ends the daemon's partial file", async () => {
  await withModuleDaemon(async (dir, daemon) => {
    await Deno.mkdir(`${dir}/src`);
    await Deno.mkdir(`${dir}/mod/up`);
    const size = 24 * MIB + 5;
    await bigFile(`${dir}/src/big.bin`, size, 6);
    const name = partialName("big.bin", { size, mtimeMs: T0 }) as string;
    const source = await Deno.readFile(`${dir}/src/big.bin`);
    await Deno.writeFile(`${dir}/mod/up/${name}`, source.subarray(0, 10 * MIB));
    await setMtime(`${dir}/mod/up/${name}`, Date.now() - 60_000);
    const r = await runBlit(["copy", "--force-grpc", `${dir}/src/`, `${daemon.address}:/mod/up/`]);
    equal(r.code, 0, r.stderr);
    ok(await sameBytes(`${dir}/src/big.bin`, `${dir}/mod/up/big.bin`));
    deepStrictEqual(partials(`${dir}/mod/up`), [], "the partial it continued is gone");
  });
});

Deno.test("resume: --no-resume writes large files whole, and Ctrl-C leaves no temporary", async (t) => {
  const size = 24 * MIB + 5;
  /** A partial file of `big.bin`'s very source version, 10 MiB good, as a killed run leaves it. */
  const placePartial = async (src: string, dst: string): Promise<number | null> => {
    const name = partialName("big.bin", { size, mtimeMs: T0 }) as string;
    const torn = new Uint8Array(12 * MIB);
    torn.set((await Deno.readFile(`${src}/big.bin`)).subarray(0, 10 * MIB));
    await Deno.writeFile(`${dst}/${name}`, torn);
    await setMtime(`${dst}/${name}`, Date.now() - 60_000);
    return Deno.statSync(`${dst}/${name}`).ino;
  };
  await withModuleDaemon(async (dir, daemon) => {
    await Deno.mkdir(`${dir}/mod/src`);
    await bigFile(`${dir}/mod/src/big.bin`, size, 13);
    await t.step("local: a partial of the same version is not continued", async () => {
      await Deno.mkdir(`${dir}/l`);
      const inode = await placePartial(`${dir}/mod/src`, `${dir}/l`);
      const r = await runBlit(["copy", "--no-resume", `${dir}/mod/src/`, `${dir}/l/`]);
      equal(r.code, 0, r.stderr);
      ok(await sameBytes(`${dir}/mod/src/big.bin`, `${dir}/l/big.bin`));
      ok(Deno.statSync(`${dir}/l/big.bin`).ino !== inode, "written anew, not from the partial");
    });
    await t.step("pull: the whole file crosses the wire", async () => {
      await Deno.mkdir(`${dir}/p`);
      await placePartial(`${dir}/mod/src`, `${dir}/p`);
      const from = `${daemon.address}:/mod/src/`;
      const r = await runBlit(["copy", "--json", "--no-resume", from, `${dir}/p/`]);
      equal(r.code, 0, r.stderr);
      ok(summaryOf(r.stdout).bytes_on_wire >= size, "nothing was resumed");
      ok(await sameBytes(`${dir}/mod/src/big.bin`, `${dir}/p/big.bin`));
    });
    const routes: [string, string][] = [
      ["local", `${dir}/mod/src/`],
      ["pull", `${daemon.address}:/mod/src/`],
    ];
    for (const [route, from] of routes) {
      await t.step(`${route} Ctrl-C: the temporary in flight is removed`, async () => {
        const into = `${dir}/c-${route}`;
        await Deno.mkdir(into);
        const run = spawnBlit(["copy", "--no-resume", "--bwlimit", "16M", from, `${into}/`]);
        // Stop it once a temporary of the file holds some of its bytes.
        const temporaries = () =>
          [...Deno.readDirSync(into)].filter((e) => e.name.startsWith(".blit-")).map((e) => e.name);
        const deadline = Date.now() + 60_000;
        while (!temporaries().some((name) => Deno.statSync(`${into}/${name}`).size >= MIB)) {
          ok(Date.now() < deadline, "a temporary of the file appears");
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        run.child.kill("SIGINT");
        const result = await run.result;
        equal(result.code, 130, result.stderr);
        match(result.stderr, /^interrupted: \d+ files? done$/m);
        equal(lstatOrNull(`${into}/big.bin`), null, "the final name never holds a partial file");
        // What was in flight was an ordinary temporary: removed before the process ended.
        deepStrictEqual(temporaries(), []);
        const again = await runBlit(["copy", "--no-resume", from, `${into}/`]);
        equal(again.code, 0, again.stderr);
        ok(await sameBytes(`${dir}/mod/src/big.bin`, `${into}/big.bin`));
        deepStrictEqual(temporaries(), []);
      });
    }
  });
});
