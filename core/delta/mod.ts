/**
 * The delta algorithm (rsync's): the destination signs the blocks of a file it already has
 * ({@linkcode computeSignature}), the source describes its new file as literal bytes and
 * references to those blocks, found at any offset ({@linkcode encodeDelta}), and the destination
 * rebuilds it from its basis ({@linkcode DeltaRebuilder}), checked against the source's digest.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { computeSignature, DeltaRebuilder, encodeDelta } from "./mod.ts";
 * const old = crypto.getRandomValues(new Uint8Array(10_000));
 * const young = new Uint8Array([...old.subarray(0, 5000), 42, ...old.subarray(5000)]);
 * const basis = await Deno.makeTempFile();
 * await Deno.writeFile(basis, old);
 * using file = await Deno.open(basis);
 * const signature = await computeSignature(file, { size: old.length });
 * const rebuilt: number[] = [];
 * const out = { writeSync: (p: Uint8Array) => (rebuilt.push(...p), p.length) };
 * const rebuild = await DeltaRebuilder.create({ shape: signature, size: young.length, basis: file, out });
 * const delta = encodeDelta(ReadableStream.from([young]).getReader(), { size: young.length, signature });
 * let step = await delta.next();
 * for (; !step.done; step = await delta.next()) {
 *   const op = step.value;
 *   if (op.kind === "literal") rebuild.literal(op.bytes);
 *   else rebuild.copy(op.block, op.count);
 * }
 * rebuild.finish(step.value.digest);
 * strictEqual(rebuilt.length, young.length);
 * strictEqual(rebuild.copied >= 8 * 1024, true);
 * await Deno.remove(basis);
 * ```
 *
 * @module
 */

export * from "./weak_sum.ts";
export * from "./block_sums.ts";
export * from "./strong_hash.ts";
export * from "./signature.ts";
export * from "./encode_delta.ts";
export * from "./rebuild_delta.ts";
