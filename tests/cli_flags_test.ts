/**
 * The flags of issue #14 that change how a run talks and waits, through the real CLI and a real
 * daemon: `--log-file`, `-q`, `--stats[=DURATION]`, `--bwlimit`, `--contimeout`, `--timeout`
 * and a refused connection. (The flags that change what is transferred — `-u`, `--min-size`,
 * `--max-size`, `--delete`, `--delete-excluded`, `--exclude-from`, `--include-from`,
 * `--files-from`, `-avhP` — are rows of the conformance table, on every route.)
 */

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { startDaemon } from "./_daemon.ts";
import { assertNoStack, pseudoRandomBytes, runBlit, spawnBlit, withTempDir } from "./_helpers.ts";

/** Descendants of `pid` (children first), read from /proc. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  let children: string;
  try {
    children = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`);
  } catch {
    return out;
  }
  for (const word of children.trim().split(/\s+/).filter((w) => w !== "")) {
    const child = Number(word);
    out.push(child, ...descendants(child));
  }
  return out;
}

/**
 * The daemon's server: the launcher's descendants running `daemon/server.ts` (bubblewrap and the
 * Deno process it starts, when the daemon runs in a namespace).
 */
function serverPids(launcherPid: number): number[] {
  const found = descendants(launcherPid).filter((pid) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes("server.ts");
    } catch {
      return false;
    }
  });
  if (found.length === 0) throw new Error("cannot find the daemon's server process");
  return found;
}

/** Sends `signal` to each process, ignoring those that are gone. */
function signalAll(pids: number[], signal: Deno.Signal): void {
  for (const pid of pids) {
    try {
      Deno.kill(pid, signal);
    } catch { /* gone */ }
  }
}

Deno.test("--log-file appends time-stamped actions, the summary and statistics; -q prints nothing", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/src/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/src/a.txt`, "alpha\n");
    await Deno.writeTextFile(`${dir}/src/sub/b.txt`, "bravo\n");
    const log = `${dir}/run.log`;
    const run = await runBlit(["copy", "-q", `${dir}/src/`, `${dir}/dst`, "--log-file", log]);
    deepStrictEqual([run.code, run.stdout, run.stderr], [0, "", ""]);
    equal(await Deno.readTextFile(`${dir}/dst/sub/b.txt`), "bravo\n");
    const lines = (await Deno.readTextFile(log)).trimEnd().split("\n");
    const stamp = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[\d+\] /;
    ok(lines.every((line) => stamp.test(line)), lines.join("\n"));
    const bodies = lines.map((line) => line.replace(stamp, ""));
    ok(bodies[0]?.endsWith(": started"), String(bodies[0]));
    ok(bodies.includes("copy a.txt"), bodies.join("\n"));
    ok(bodies.includes("copy sub/b.txt"), bodies.join("\n"));
    ok(bodies.some((b) => /^copy: done: 2 file\(s\) transferred/.test(b)), bodies.join("\n"));
    ok(bodies.includes("Number of regular files transferred: 2"), bodies.join("\n"));
    // A second run appends.
    await runBlit(["copy", "-q", `${dir}/src/`, `${dir}/dst`, "--log-file", log]);
    const again = (await Deno.readTextFile(log)).trimEnd().split("\n");
    ok(again.length > lines.length);
    ok(again.some((line) => line.includes("copy: up to date")));
  });
});

Deno.test("-q still prints what failed; --stats prints rsync's closing statistics", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/src`);
    await Deno.writeTextFile(`${dir}/src/a.txt`, "alpha\n");
    await Deno.writeTextFile(`${dir}/src/secret.txt`, "no\n");
    await Deno.chmod(`${dir}/src/secret.txt`, 0o000);
    const root = Deno.uid() === 0;
    const quiet = await runBlit(["copy", "-q", `${dir}/src/`, `${dir}/dst`]);
    if (!root) {
      equal(quiet.code, 2);
      match(quiet.stderr, /^1 failure\(s\):\n {2}secret\.txt: /);
      ok(!quiet.stderr.includes("done"), quiet.stderr);
    }
    assertNoStack(quiet.stderr);
    const stats = await runBlit(["copy", "--stats", `${dir}/src/`, `${dir}/dst2`]);
    match(stats.stderr, /\nNumber of files: 2\n/);
    match(stats.stderr, /\nTotal transferred file size: [0-9,]+ bytes\n/);
  });
});

Deno.test("--bwlimit holds a local copy to the rate: one large file, and many small ones", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/src/many`, { recursive: true });
    const big = pseudoRandomBytes(768 * 1024, 11);
    await Deno.writeFile(`${dir}/src/big.bin`, big);
    // 768 KiB at 256 KiB/s: at least ~2.75 s (a quarter second of burst allowed).
    let start = performance.now();
    const one = await runBlit(["copy", `${dir}/src/big.bin`, `${dir}/dst/`, "--bwlimit=256K"]);
    const oneMs = performance.now() - start;
    equal(one.code, 0, one.stderr);
    deepStrictEqual(await Deno.readFile(`${dir}/dst/big.bin`), big);
    ok(oneMs >= 2_700, `one file took ${oneMs} ms`);
    for (let i = 0; i < 48; i++) {
      await Deno.writeFile(`${dir}/src/many/f${i}.bin`, pseudoRandomBytes(16 * 1024, i));
    }
    // 768 KiB in 48 files at 256 KiB/s.
    start = performance.now();
    const many = await runBlit(["copy", `${dir}/src/many/`, `${dir}/many`, "--bwlimit", "256"]);
    const manyMs = performance.now() - start;
    equal(many.code, 0, many.stderr);
    equal((await Array.fromAsync(Deno.readDir(`${dir}/many`))).length, 48);
    deepStrictEqual(await Deno.readFile(`${dir}/many/f7.bin`), pseudoRandomBytes(16 * 1024, 7));
    ok(manyMs >= 2_700, `48 files took ${manyMs} ms`);
  });
});

Deno.test("--bwlimit holds a push and a pull to the rate; --stats=DURATION prints a line per interval", async () => {
  await withTempDir(async (dir) => {
    const module = `${dir}/module`;
    await Deno.mkdir(module);
    await Deno.mkdir(`${dir}/src`);
    const bytes = pseudoRandomBytes(768 * 1024, 7);
    await Deno.writeFile(`${dir}/src/big.bin`, bytes);
    const daemon = await startDaemon(dir, [{ name: "m", path: module }]);
    try {
      // 768 KiB at 256 KiB/s: at least ~2.75 s (a quarter second of burst allowed).
      let start = performance.now();
      const push = await runBlit([
        "copy",
        `${dir}/src/`,
        `${daemon.address}:/m/dst`,
        "--bwlimit",
        "256",
        "--stats=1s",
        "--no-progress",
      ]);
      const pushMs = performance.now() - start;
      equal(push.code, 0, push.stderr);
      deepStrictEqual(await Deno.readFile(`${module}/dst/big.bin`), bytes);
      ok(pushMs >= 2_700, `push took ${pushMs} ms`);
      ok((push.stderr.match(/^stats: \d+ file\(s\) /gm) ?? []).length >= 2, push.stderr);
      start = performance.now();
      const pull = await runBlit([
        "copy",
        `${daemon.address}:/m/dst/`,
        `${dir}/back`,
        "--bwlimit=256K",
      ]);
      const pullMs = performance.now() - start;
      equal(pull.code, 0, pull.stderr);
      deepStrictEqual(await Deno.readFile(`${dir}/back/big.bin`), bytes);
      ok(pullMs >= 2_700, `pull took ${pullMs} ms`);
    } finally {
      await daemon.stop();
    }
  });
});

Deno.test("a refused connection fails at once; a silent one after --contimeout; one line each", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.txt`, "alpha\n");
    // A port nobody listens on, refused by the kernel: unknown to the client (its certificate
    // probe fails), then a port whose daemon is known but gone (its pinned connection fails).
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = (closed.addr as Deno.NetAddr).port;
    closed.close();
    await Deno.mkdir(`${dir}/module`);
    const gone = await startDaemon(dir, [{ name: "m", path: `${dir}/module` }]);
    await gone.stop();
    const cases = [
      { port: closedPort, env: { XDG_CONFIG_HOME: `${dir}/fresh-config` } },
      { port: gone.port, env: {} },
    ];
    for (const { port, env } of cases) {
      const start = performance.now();
      const refused = await runBlit(["copy", `${dir}/a.txt`, `127.0.0.1:${port}:/m/`], { env });
      const refusedMs = performance.now() - start;
      equal(refused.code, 1);
      equal(
        refused.stderr,
        `blit: Cannot connect to blitd at 127.0.0.1:${port}: connection refused; is the daemon running?\n`,
      );
      ok(refusedMs < 5_000, `refused after ${refusedMs} ms`);
    }
    // A listener that never accepts or answers: the handshake never completes.
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const port = (silent.addr as Deno.NetAddr).port;
      const start = performance.now();
      const timedOut = await runBlit([
        "copy",
        `${dir}/a.txt`,
        `127.0.0.1:${port}:/m/`,
        "--contimeout",
        "1",
      ]);
      const timedOutMs = performance.now() - start;
      equal(timedOut.code, 1);
      equal(timedOut.stderr.trimEnd().split("\n").length, 1, timedOut.stderr);
      match(timedOut.stderr, /^blit: Cannot .*(timed out|no TLS answer after 1 s|within)/i);
      assertNoStack(timedOut.stderr);
      ok(timedOutMs < 8_000, `gave up after ${timedOutMs} ms`);
    } finally {
      silent.close();
    }
  });
});

/**
 * Runs a 256 MiB transfer at 32 MiB/s with `--timeout 2`, stops the daemon's server after 1.5
 * s and checks the client fails with one line within 10 s. What the kernel buffered by then (up
 * to tcp_rmem's 32 MiB per connection here) still moves; then the data plane waits 2 s.
 */
async function assertStallFails(direction: "push" | "pull"): Promise<void> {
  await withTempDir(async (dir) => {
    const module = `${dir}/module`;
    const home = direction === "pull" ? `${module}/src` : `${dir}/src`;
    await Deno.mkdir(home, { recursive: true });
    await Deno.mkdir(module, { recursive: true });
    const chunk = pseudoRandomBytes(1024 * 1024, 3);
    const file = await Deno.open(`${home}/big.bin`, { write: true, create: true });
    for (let i = 0; i < 256; i++) await file.write(chunk);
    file.close();
    const daemon = await startDaemon(dir, [{ name: "m", path: module }]);
    const server = serverPids(daemon.pid);
    try {
      const ends = direction === "pull"
        ? [`${daemon.address}:/m/src/`, `${dir}/dst`]
        : [`${dir}/src/`, `${daemon.address}:/m/dst`];
      const run = spawnBlit([
        "copy",
        ...ends,
        "--bwlimit",
        "32M",
        "--timeout",
        "2",
        "--no-progress",
      ]);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      signalAll(server, "SIGSTOP");
      const start = performance.now();
      const result = await run.result;
      const waitedMs = performance.now() - start;
      signalAll(server, "SIGCONT");
      equal(result.code, 1, result.stderr);
      equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
      match(result.stderr, /^blit: .*(no progress|stalled|timed out|within)/i);
      assertNoStack(result.stderr);
      ok(waitedMs < 10_000, `failed after ${waitedMs} ms: ${result.stderr}`);
    } finally {
      signalAll(server, "SIGCONT");
      await daemon.stop();
    }
  });
}

Deno.test("--timeout: a pull from a daemon that stops answering fails with one line", async () => {
  await assertStallFails("pull");
});

// Measured: 3.3 s after the stop (the socket buffers fill first), one line naming the data plane.
Deno.test("--timeout: a push to a daemon that stops answering fails with one line", async () => {
  await assertStallFails("push");
});

Deno.test("-v and -i list each completed action on local, push and pull; a failed one is not listed", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/src/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/src/a.txt`, "alpha\n");
    await Deno.writeTextFile(`${dir}/src/sub/b.txt`, "bravo\n");
    await Deno.symlink("a.txt", `${dir}/src/l`);
    await Deno.mkdir(`${dir}/m`);
    const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/m` }]);
    const lines = (text: string): string[] =>
      text.split("\n").filter((l) => l !== "" && !/^(copy|mirror):|^\s|^1 failure/.test(l)).sort();
    try {
      const local = await runBlit(["copy", "-v", `${dir}/src/`, `${dir}/local`]);
      deepStrictEqual(lines(local.stdout), [
        "copy a.txt",
        "copy sub/b.txt",
        "link l",
        "mkdir .",
        "mkdir sub",
      ]);
      // The daemon's sandbox cannot create links: the link fails and is not listed.
      const push = await runBlit(["copy", "-i", `${dir}/src/`, `${daemon.address}:/m/push`]);
      equal(push.code, 2, push.stderr);
      deepStrictEqual(lines(push.stdout), [
        "<f+++++++++ a.txt",
        "<f+++++++++ sub/b.txt",
        "cd+++++++++ ./",
        "cd+++++++++ sub/",
      ]);
      // Changed on the daemon: size and time differ, so ">f.st".
      await Deno.writeTextFile(`${dir}/m/push/a.txt`, "other contents\n");
      await Deno.utime(`${dir}/m/push/a.txt`, 1_000_000, 1_000_000);
      const pull = await runBlit(["copy", "-vi", `${daemon.address}:/m/push/`, `${dir}/local`]);
      equal(pull.code, 0, pull.stderr);
      deepStrictEqual(lines(pull.stdout), [">f.st...... a.txt"]);
      // Deletions, on a push, with the JSON summary on stdout and the actions on stderr.
      const mirror = await runBlit([
        "mirror",
        "-v",
        "--yes",
        "--json",
        `${dir}/src/sub/`,
        `${daemon.address}:/m/push`,
      ]);
      equal(mirror.code, 0, mirror.stderr);
      deepStrictEqual(lines(mirror.stderr), ["copy b.txt", "delete a.txt", "delete sub"]);
      equal(JSON.parse(mirror.stdout).entries_deleted, 2);
      // rsync's itemized deletions: a directory's path ends with "/", on a pull and a push.
      await Deno.mkdir(`${dir}/local/gone/deep`, { recursive: true });
      const pulled = await runBlit([
        "mirror",
        "-i",
        "--yes",
        `${daemon.address}:/m/push/`,
        `${dir}/local`,
      ]);
      equal(pulled.code, 0, pulled.stderr);
      deepStrictEqual(lines(pulled.stdout), [
        "*deleting   a.txt",
        "*deleting   gone/",
        "*deleting   l",
        "*deleting   sub/",
        ">f+++++++++ b.txt",
      ]);
      await Deno.mkdir(`${dir}/m/push/gone`);
      const pushed = await runBlit([
        "mirror",
        "-i",
        "--yes",
        `${dir}/src/sub/`,
        `${daemon.address}:/m/push`,
      ]);
      equal(pushed.code, 0, pushed.stderr);
      deepStrictEqual(lines(pushed.stdout), ["*deleting   gone/"]);
    } finally {
      await daemon.stop();
    }
  });
});
