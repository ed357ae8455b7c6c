// Deltas through the real CLI and a real daemon: a changed file travels as the difference
// against the destination's old copy, on a push and on a pull, and lands byte-identical.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { withModuleDaemon } from "./_daemon.ts";
import {
  concatBytes,
  pseudoRandomBytes,
  readTree,
  runBlit,
  setMtime,
  withTempDir,
} from "./_helpers.ts";

const MIB = 1024 * 1024;
const T0 = Date.UTC(2024, 3, 5, 6, 7, 8, 901);

const bytesOf = pseudoRandomBytes;
const concat = concatBytes;

/** The old versions, and what each becomes (the edits the issue lists). */
function versions(): { old: Record<string, Uint8Array>; young: Record<string, Uint8Array> } {
  const base = (seed: number) => bytesOf(3 * MIB + 123, seed);
  const old: Record<string, Uint8Array> = {};
  const young: Record<string, Uint8Array> = {};
  const edit = (name: string, seed: number, change: (b: Uint8Array) => Uint8Array) => {
    old[name] = base(seed);
    young[name] = change(old[name]!);
  };
  edit("overwritten.bin", 1, (b) => {
    const y = b.slice();
    for (const at of [5000, MIB, 2 * MIB + 7]) y.set(bytesOf(64 * 1024, at), at);
    return y;
  });
  edit("inserted.bin", 2, (b) => concat(b.subarray(0, MIB), bytesOf(4096, 9), b.subarray(MIB)));
  edit("deleted.bin", 3, (b) => concat(b.subarray(0, MIB), b.subarray(MIB + 70_000)));
  edit("appended.bin", 4, (b) => concat(b, bytesOf(100_000, 10)));
  edit("truncated.bin", 5, (b) => b.subarray(0, 2 * MIB + 1));
  edit("replaced.bin", 6, () => bytesOf(3 * MIB, 11));
  return { old, young };
}

/** Bytes that must travel at the least, with deltas: the edits (the replaced file whole). */
const CHANGED_BYTES = 3 * 64 * 1024 + 4096 + 100_000 + 3 * MIB;

async function writeFiles(dir: string, files: Record<string, Uint8Array>, mtime: number) {
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) {
    await Deno.writeFile(`${dir}/${name}`, data);
    await setMtime(`${dir}/${name}`, mtime);
  }
}

interface Summary {
  files_transferred: number;
  bytes_transferred: number;
  bytes_on_wire: number;
  files_failed: number;
  outcome: string;
}

async function copy(args: string[]): Promise<Summary> {
  const r = await runBlit(["copy", "--json", ...args]);
  equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Summary;
}

Deno.test("delta: a push sends only what changed, and every file lands byte-identical", async () => {
  await withModuleDaemon(async (dir, daemon) => {
    const { old, young } = versions();
    const total = Object.values(young).reduce((n, b) => n + b.length, 0);
    await writeFiles(`${dir}/mod/t`, old, T0);
    await writeFiles(`${dir}/src`, young, T0 + 5000);
    const summary = await copy([`${dir}/src/`, `${daemon.address}:/mod/t/`]);
    equal(summary.files_transferred, 6);
    equal(summary.bytes_transferred, total);
    deepStrictEqual(await readTree(`${dir}/mod/t`), await readTree(`${dir}/src`));
    // The edits, the replaced file, signatures, block references and TLS: far less than whole.
    ok(summary.bytes_on_wire >= CHANGED_BYTES, `${summary.bytes_on_wire} on the wire`);
    ok(summary.bytes_on_wire < CHANGED_BYTES + 1.5 * MIB, `${summary.bytes_on_wire} on the wire`);
    ok(summary.bytes_on_wire < total / 3, `${summary.bytes_on_wire} of ${total}`);
  });
});

Deno.test("delta: a pull sends only what changed, and every file lands byte-identical", async () => {
  await withModuleDaemon(async (dir, daemon) => {
    const { old, young } = versions();
    const total = Object.values(young).reduce((n, b) => n + b.length, 0);
    await writeFiles(`${dir}/dst`, old, T0);
    await writeFiles(`${dir}/mod/t`, young, T0 + 5000);
    const summary = await copy([`${daemon.address}:/mod/t/`, `${dir}/dst/`]);
    equal(summary.files_transferred, 6);
    deepStrictEqual(await readTree(`${dir}/dst`), await readTree(`${dir}/mod/t`));
    ok(summary.bytes_on_wire >= CHANGED_BYTES, `${summary.bytes_on_wire} on the wire`);
    ok(summary.bytes_on_wire < CHANGED_BYTES + 1.5 * MIB, `${summary.bytes_on_wire} on the wire`);
    ok(summary.bytes_on_wire < total / 3, `${summary.bytes_on_wire} of ${total}`);
  });
});

Deno.test("delta: --whole-file sends every changed file whole", async () => {
  await withModuleDaemon(async (dir, daemon) => {
    const { old, young } = versions();
    const total = Object.values(young).reduce((n, b) => n + b.length, 0);
    await writeFiles(`${dir}/mod/t`, old, T0);
    await writeFiles(`${dir}/src`, young, T0 + 5000);
    const summary = await copy(["--whole-file", `${dir}/src/`, `${daemon.address}:/mod/t/`]);
    deepStrictEqual(await readTree(`${dir}/mod/t`), await readTree(`${dir}/src`));
    ok(summary.bytes_on_wire > total, `${summary.bytes_on_wire} on the wire, ${total} of files`);
  });
});

Deno.test("delta: a mirror and a move rebuild from the old copy too", async () => {
  await withModuleDaemon(async (dir, daemon) => {
    const { old, young } = versions();
    await writeFiles(`${dir}/mod/m`, { ...old, "extra.bin": bytesOf(10, 1) }, T0);
    await writeFiles(`${dir}/src`, young, T0 + 5000);
    const mirrored = await copy([`${dir}/src/`, `${daemon.address}:/mod/m/`]);
    ok(mirrored.bytes_on_wire < CHANGED_BYTES + 1.5 * MIB);
    const r = await runBlit([
      "mirror",
      "--yes",
      "--json",
      `${dir}/src/`,
      `${daemon.address}:/mod/m/`,
    ]);
    equal(r.code, 0, r.stderr);
    deepStrictEqual(await readTree(`${dir}/mod/m`), await readTree(`${dir}/src`));
    // A move of changed files: each source goes only after its rebuilt copy was verified.
    await writeFiles(`${dir}/mv`, old, T0);
    await writeFiles(`${dir}/mod/mv`, young, T0 + 9000);
    const before = await readTree(`${dir}/mod/mv`);
    const moved = await runBlit(["move", "--json", `${daemon.address}:/mod/mv/`, `${dir}/mv/`]);
    equal(moved.code, 0, moved.stderr);
    deepStrictEqual(await readTree(`${dir}/mv`), before);
    deepStrictEqual(await readTree(`${dir}/mod/mv`), {});
    ok((JSON.parse(moved.stdout) as Summary).bytes_on_wire < CHANGED_BYTES + 1.5 * MIB);
  });
});

Deno.test("delta: more changed files than the destination signs ahead", async () => {
  await withModuleDaemon(async (dir, daemon) => {
    const old: Record<string, Uint8Array> = {};
    const young: Record<string, Uint8Array> = {};
    for (let i = 0; i < 20; i++) {
      const name = `f${String(i).padStart(2, "0")}.bin`;
      old[name] = bytesOf(MIB + 4096 * i, 100 + i);
      young[name] = concat(
        old[name]!.subarray(0, 5000),
        bytesOf(100, i),
        old[name]!.subarray(5000),
      );
    }
    await writeFiles(`${dir}/mod/many`, old, T0);
    await writeFiles(`${dir}/src`, young, T0 + 5000);
    const pushed = await copy([`${dir}/src/`, `${daemon.address}:/mod/many/`]);
    equal(pushed.files_transferred, 20);
    deepStrictEqual(await readTree(`${dir}/mod/many`), await readTree(`${dir}/src`));
    ok(pushed.bytes_on_wire < 3 * MIB, `${pushed.bytes_on_wire} on the wire`);
  });
});

Deno.test("delta: a local run copies whole and puts nothing on a wire", async () => {
  await withTempDir(async (dir) => {
    const { old, young } = versions();
    await writeFiles(`${dir}/dst`, old, T0);
    await writeFiles(`${dir}/src`, young, T0 + 5000);
    const summary = await copy([`${dir}/src/`, `${dir}/dst/`]);
    equal(summary.bytes_on_wire, 0);
    equal(summary.files_transferred, 6);
    deepStrictEqual(await readTree(`${dir}/dst`), await readTree(`${dir}/src`));
  });
});

Deno.test("delta: large old versions are freed after their replacements are in place", async (t) => {
  // 2 MiB: at or above RELEASE_ASIDE_MIN_BYTES, each old version is renamed to a temporary name
  // before the new one takes its name, and removed afterwards, off the writing thread. Eight of
  // them in one directory: their removals change its mtime, so they must end before the
  // directory's time is set (the source directory's DIR_TIME must arrive).
  const DIR_TIME = T0 + 7000;
  const old: Record<string, Uint8Array> = {};
  const young: Record<string, Uint8Array> = {};
  for (let i = 0; i < 8; i++) {
    const name = `big${i}.bin`;
    old[name] = bytesOf(2 * MIB, 21 + i);
    young[name] = old[name].slice();
    young[name].set(bytesOf(64 * 1024, 40 + i), MIB);
  }
  const names = Object.keys(young);
  const temporaries = async (dir: string) =>
    (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).filter((n) =>
      n.startsWith(".blit-")
    );
  const landed = async (dst: string) => {
    for (const name of names) {
      deepStrictEqual(await Deno.readFile(`${dst}/${name}`), young[name]);
      equal((await Deno.stat(`${dst}/${name}`)).nlink, 1);
    }
    equal((await Deno.stat(dst)).mtime?.getTime(), DIR_TIME);
  };
  await withModuleDaemon(async (dir, daemon) => {
    await t.step("push (the daemon removes the old versions during the session)", async () => {
      await writeFiles(`${dir}/mod/p`, old, T0);
      await writeFiles(`${dir}/src`, young, T0 + 5000);
      await setMtime(`${dir}/src`, DIR_TIME);
      const summary = await copy([`${dir}/src/`, `${daemon.address}:/mod/p/`]);
      equal(summary.files_transferred, names.length);
      deepStrictEqual(await temporaries(`${dir}/mod/p`), []);
      await landed(`${dir}/mod/p`);
    });
    await t.step("pull (the client removes them before it exits)", async () => {
      await writeFiles(`${dir}/dst`, old, T0);
      await writeFiles(`${dir}/mod/q`, young, T0 + 5000);
      await setMtime(`${dir}/mod/q`, DIR_TIME);
      const summary = await copy([`${daemon.address}:/mod/q/`, `${dir}/dst/`]);
      equal(summary.files_transferred, names.length);
      deepStrictEqual(await temporaries(`${dir}/dst`), []);
      await landed(`${dir}/dst`);
    });
    await t.step("local (the copying process removes them before it exits)", async () => {
      await writeFiles(`${dir}/ldst`, old, T0);
      const summary = await copy([`${dir}/mod/q/`, `${dir}/ldst/`]);
      equal(summary.files_transferred, names.length);
      deepStrictEqual(await temporaries(`${dir}/ldst`), []);
      await landed(`${dir}/ldst`);
    });
  });
});
