import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { ProtocolError } from "../core/transport/records.ts";
import {
  packShard,
  type PackShardOptions,
  type ShardFile,
  unpackShard,
} from "../core/transport/shard.ts";
import { localItem } from "./_helpers.ts";

function bytesOf(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

Deno.test("packShard() and unpackShard()", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "blit-" });
  try {
    // Every member read in turn; and every read taken for one that waited for the disk, so that
    // all members after the first two are read three at a time.
    const modes: [string, PackShardOptions][] = [
      ["in turn", { lanes: 1 }],
      ["several at once", { lanes: 3, slowReadMicros: -1 }],
    ];
    for (const [mode, options] of modes) {
      await t.step(`round-trips files of many sizes, in order (${mode})`, async () => {
        const sizes = [0, 1, 511, 512, 513, 4096, 65_536];
        const files: ShardFile[] = [];
        for (const [i, size] of sizes.entries()) {
          const absPath = `${dir}/f${i}`;
          await Deno.writeFile(absPath, bytesOf(size, i));
          files.push(localItem(100 + i, absPath, size));
        }
        const shard = await packShard(files, undefined, options);
        deepStrictEqual(shard.fileIds, files.map((f) => f.id));
        deepStrictEqual(shard.failures, []);
        equal(shard.bytes.length, sizes.reduce((a, b) => a + b, 0));
        const got = new Map<number, Uint8Array>();
        const count = await unpackShard(shard.bytes, {
          fileIds: shard.fileIds,
          granted: (id) => files.find((f) => f.id === id)?.size ?? null,
          onMember: (id, data) => void got.set(id, data.slice()),
        });
        equal(count, files.length);
        for (const [i, size] of sizes.entries()) {
          deepStrictEqual(got.get(100 + i), bytesOf(size, i));
        }
      });

      await t.step(
        `packs the announced prefix of a grown file, leaves out the rest (${mode})`,
        async () => {
          await Deno.writeFile(`${dir}/grown`, bytesOf(300, 1));
          await Deno.writeFile(`${dir}/shrunk`, bytesOf(10, 2));
          await Deno.writeFile(`${dir}/ok`, bytesOf(20, 3));
          await Deno.writeFile(`${dir}/first`, bytesOf(7, 4));
          const shard = await packShard(
            [
              localItem(6, `${dir}/first`, 7),
              localItem(7, `${dir}/first`, 7),
              localItem(1, `${dir}/grown`, 100),
              localItem(2, `${dir}/shrunk`, 50),
              localItem(3, `${dir}/missing`, 5),
              localItem(4, dir, 5),
              localItem(5, `${dir}/ok`, 20),
            ],
            undefined,
            options,
          );
          deepStrictEqual(shard.fileIds, [6, 7, 1, 5]);
          deepStrictEqual(shard.grown, [1]);
          const failures = new Map(shard.failures.map((f) => [f.id, f]));
          deepStrictEqual([...failures.keys()].sort(), [2, 3, 4]);
          ok(/shrank to 10 bytes, 50 were announced/.test(failures.get(2)!.message));
          equal(failures.get(3)!.vanished, true);
          equal(failures.get(4)!.vanished, false);
          ok(failures.get(4)!.message.startsWith("Cannot read file"));
          const got = new Map<number, Uint8Array>();
          await unpackShard(shard.bytes, {
            fileIds: shard.fileIds,
            granted: (id) => ({ 1: 100, 5: 20, 6: 7, 7: 7 } as Record<number, number>)[id] ?? null,
            onMember: (id, data) => void got.set(id, data.slice()),
          });
          deepStrictEqual(got.get(1), bytesOf(300, 1).subarray(0, 100));
          deepStrictEqual(got.get(5), bytesOf(20, 3));
          deepStrictEqual(got.get(7), bytesOf(7, 4));
        },
      );
    }

    await t.step("returns an empty shard when nothing could be packed", async () => {
      const shard = await packShard([localItem(1, `${dir}/missing`, 1)]);
      equal(shard.bytes.length, 0);
      deepStrictEqual(shard.fileIds, []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  const grants: Record<number, number> = { 1: 3, 2: 3, 3: 0 };
  const granted = (id: number): number | null => grants[id] ?? null;
  const hostile: [string, number[], number, RegExp][] = [
    ["an unknown id", [1, 9], 6, /member 9 was not granted/],
    ["a duplicate id", [1, 1], 6, /member 1 appears twice/],
    ["too few bytes", [1, 2], 5, /holds 5 bytes, its members were granted 6/],
    ["trailing bytes", [1, 2], 7, /holds 7 bytes, its members were granted 6/],
    ["bytes for a zero-length member", [3], 1, /holds 1 bytes, its members were granted 0/],
    ["no member", [], 0, /holds no member/],
  ];
  for (const [name, fileIds, length, message] of hostile) {
    await t.step(`refuses ${name} and delivers nothing`, async () => {
      const delivered: number[] = [];
      await rejects(
        unpackShard(new Uint8Array(length).fill(97), {
          fileIds,
          granted,
          onMember: (id) => void delivered.push(id),
        }),
        (error: unknown) => {
          ok(error instanceof ProtocolError, String(error));
          ok(message.test(error.message), error.message);
          ok(error.message.startsWith("Cannot unpack shard: "), error.message);
          return true;
        },
      );
      deepStrictEqual(delivered, []);
    });
  }

  await t.step("delivers members in order, as views of the shard", async () => {
    const got: string[] = [];
    equal(
      await unpackShard(new TextEncoder().encode("abcdef"), {
        fileIds: [2, 3, 1],
        granted,
        onMember: (id, data) => void got.push(`${id}:${new TextDecoder().decode(data)}`),
      }),
      3,
    );
    deepStrictEqual(got, ["2:abc", "3:", "1:def"]);
  });
});
