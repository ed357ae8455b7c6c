import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { type Header, pack } from "tar-stream";
import { ProtocolError } from "../core/transport/records.ts";
import { packShard, type ShardFile, unpackShard } from "../core/transport/tar_shard.ts";
import { localItem } from "./_helpers.ts";

type Member = Partial<Header> & { name: string; data?: Uint8Array };

/** Builds a tar with tar-stream, as a hostile source could. */
async function rawTar(members: Member[]): Promise<Uint8Array> {
  const packer = pack();
  for (const { data, ...header } of members) {
    if (data) packer.entry({ ...header, size: data.length }, data);
    else packer.entry(header);
  }
  packer.finalize();
  const chunks: Uint8Array[] = [];
  for await (const chunk of packer as AsyncIterable<Uint8Array>) chunks.push(chunk);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

function bytesOf(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

Deno.test("packShard() and unpackShard()", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "blit-" });
  try {
    await t.step("round-trips files of many sizes, in order", async () => {
      const sizes = [0, 1, 511, 512, 513, 4096, 65_536];
      const files: ShardFile[] = [];
      for (const [i, size] of sizes.entries()) {
        const absPath = `${dir}/f${i}`;
        await Deno.writeFile(absPath, bytesOf(size, i));
        files.push(localItem(100 + i, absPath, size));
      }
      const shard = await packShard(files);
      deepStrictEqual(shard.fileIds, files.map((f) => f.id));
      deepStrictEqual(shard.failures, []);
      equal(shard.bytes.length % 512, 0);
      const got = new Map<number, Uint8Array>();
      const count = await unpackShard(shard.bytes, {
        fileIds: shard.fileIds,
        granted: (id) => files.find((f) => f.id === id)?.size ?? null,
        onMember: (id, data) => void got.set(id, data.slice()),
      });
      equal(count, files.length);
      for (const [i, size] of sizes.entries()) deepStrictEqual(got.get(100 + i), bytesOf(size, i));
    });

    await t.step("packs the announced prefix of a grown file and leaves out the rest", async () => {
      await Deno.writeFile(`${dir}/grown`, bytesOf(300, 1));
      await Deno.writeFile(`${dir}/shrunk`, bytesOf(10, 2));
      await Deno.writeFile(`${dir}/ok`, bytesOf(20, 3));
      const shard = await packShard([
        localItem(1, `${dir}/grown`, 100),
        localItem(2, `${dir}/shrunk`, 50),
        localItem(3, `${dir}/missing`, 5),
        localItem(4, dir, 5),
        localItem(5, `${dir}/ok`, 20),
      ]);
      deepStrictEqual(shard.fileIds, [1, 5]);
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
        granted: (id) => ({ 1: 100, 5: 20 } as Record<number, number>)[id] ?? null,
        onMember: (id, data) => void got.set(id, data.slice()),
      });
      deepStrictEqual(got.get(1), bytesOf(300, 1).subarray(0, 100));
    });

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
  const abc = new Uint8Array([97, 98, 99]);
  const hostile: [string, Member[], RegExp, number[]?][] = [
    ["a symlink member", [{ name: "1", type: "symlink", linkname: "/etc/passwd" }], /symlink/],
    ["a hard link member", [{ name: "1", type: "link", linkname: "2" }], /is a link/],
    ["a directory member", [{ name: "1", type: "directory" }], /is a directory/],
    ["a ../x member", [{ name: "../x", data: abc }], /name "\.\.\/x" is not a file id/],
    ["a path member", [{ name: "a/1", data: abc }], /name "a\/1" is not a file id/],
    ["an absolute member", [{ name: "/1", data: abc }], /not a file id/],
    ["a padded id", [{ name: "01", data: abc }], /not a file id/],
    ["an unknown id", [{ name: "9", data: abc }], /member 9 was not granted/],
    [
      "a duplicate id",
      [{ name: "1", data: abc }, { name: "1", data: abc }],
      /member 1 appears twice/,
    ],
    ["a size mismatch", [{ name: "1", data: abc.subarray(0, 2) }], /2 bytes, 3 were granted/],
    ["a member not announced", [{ name: "2", data: abc }], /not the file id announced/, [1]],
    ["a missing member", [{ name: "1", data: abc }], /2 members, 3 announced/, [1, 2]],
    ["a fifo member", [{ name: "1", type: "fifo" }], /is a fifo/],
  ];
  for (const [name, members, message, fileIds] of hostile) {
    await t.step(`refuses ${name} and delivers nothing`, async () => {
      const bytes = await rawTar([{ name: "3", data: new Uint8Array(0) }, ...members]);
      const delivered: number[] = [];
      await rejects(
        unpackShard(bytes, {
          ...(fileIds ? { fileIds: [3, ...fileIds] } : {}),
          granted,
          onMember: (id) => void delivered.push(id),
        }),
        (error: unknown) => {
          ok(error instanceof ProtocolError, String(error));
          ok(message.test(error.message), error.message);
          ok(error.message.startsWith("Cannot unpack tar shard: "), error.message);
          return true;
        },
      );
      deepStrictEqual(delivered, []);
    });
  }

  await t.step("refuses corrupt, truncated and trailing bytes", async () => {
    const good = await rawTar([{ name: "1", data: abc }]);
    const corrupt = good.slice();
    corrupt[0] = 0x32; // name "2": the header checksum no longer matches
    const trailing = new Uint8Array(good.length + 512).fill(7);
    trailing.set(good);
    const options = { granted, onMember: () => {} };
    await rejects(unpackShard(corrupt, options), /Cannot unpack tar shard: Invalid tar header/);
    await rejects(unpackShard(good.subarray(0, 600), options), /Unexpected end of data/);
    await rejects(unpackShard(trailing, options), ProtocolError);
    await rejects(unpackShard(new Uint8Array(1024), options), /holds no member/);
    equal(await unpackShard(good, options), 1);
  });
});
