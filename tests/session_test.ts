/**
 * The session's roles joined in process, driven directly: consent asked through the port while
 * a person decides (keepalives, the consent deadline, a peer that goes quiet), and the
 * destination's refusal of groups it was never told about.
 *
 * @module
 */

import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import { hashFileWasm } from "../core/hash.ts";
import { askPeerConsent, DestinationRole } from "../core/session/destination.ts";
import { type FramePort, localPortPair, type SessionTerms } from "../core/session/frames.ts";
import { ChangeGate } from "../core/session/plan.ts";
import type { ConsentAsker, RoleOutcome } from "../core/session/role.ts";
import { SourceRole } from "../core/session/source.ts";
import { TransferStats } from "../core/stats.ts";
import { PlainTree } from "../core/tree.ts";
import { TimeoutError } from "../core/transport/deadline.ts";
import { makeTree, readTree, withTempDir } from "./_helpers.ts";

const MIRROR: SessionTerms = {
  operation: "mirror",
  compare: "size-mtime",
  ignoreExisting: false,
  dryRun: false,
  maxDelete: null,
  wholeFile: false,
  resume: true,
  update: false,
  minSize: null,
  maxSize: null,
  deleteExcluded: false,
  reportEvents: false,
  oneFileSystem: false,
  backup: null,
  keepOwner: false,
  hardLinks: false,
};

/** Runs a mirror of `src/` into `dst` whose destination asks the source side for consent. */
async function mirrorAskingPeer(
  dir: string,
  consent: ConsentAsker,
  timing: { keepaliveMs: number; quietMs: number; timeoutMs: number },
): Promise<{ source: RoleOutcome; destination: RoleOutcome }> {
  const [sourcePort, destinationPort] = localPortPair();
  const tree = new PlainTree(dir);
  const texts = { source: "src/", destination: "dst" };
  const gate = new ChangeGate(false);
  const source = new SourceRole(sourcePort, {
    terms: MIRROR,
    filter: () => true,
    tree,
    base: "src",
    contentsOnly: true,
    rootName: "src",
    keepRoot: false,
    texts,
    stats: new TransferStats(),
    hasher: hashFileWasm,
    gate,
    payload: { kind: "local" },
    consent,
    keepaliveMs: timing.keepaliveMs,
  });
  const destination = new DestinationRole(destinationPort, {
    terms: MIRROR,
    filter: () => true,
    tree,
    base: "dst",
    trailingSlash: false,
    texts,
    stats: new TransferStats(),
    hasher: hashFileWasm,
    gate,
    consent: askPeerConsent(destinationPort, {
      quietMs: timing.quietMs,
      timeoutMs: timing.timeoutMs,
    }),
    payload: { kind: "local", source: () => source.localSource(), copyWorkers: 0 },
  });
  const [s, d] = await Promise.all([source.run(), destination.run()]);
  return { source: s, destination: d };
}

Deno.test("consent through the port, as a push asks it", async (t) => {
  await withTempDir(async (dir) => {
    const fresh = async () => {
      await Deno.remove(`${dir}/dst`, { recursive: true }).catch(() => {});
      await makeTree(dir, { "src/keep.txt": "k", "dst/keep.txt": "k", "dst/extra.txt": "e" });
    };

    await t.step("asked after planning, with the paths; keepalives hold the session", async () => {
      await fresh();
      let asked: { paths: readonly string[]; total: number } | null = null;
      const { destination } = await mirrorAskingPeer(dir, async (paths, total) => {
        asked = { paths, total };
        await new Promise((resolve) => setTimeout(resolve, 600)); // a person thinking
        return { granted: true };
      }, { keepaliveMs: 50, quietMs: 200, timeoutMs: 5_000 });
      deepStrictEqual(asked, { paths: ["extra.txt"], total: 1 });
      equal(destination.own.deleted, 1);
      equal(destination.own.deletionsSkipped, null);
      deepStrictEqual(Object.keys(await readTree(`${dir}/dst`)), ["keep.txt"]);
    });

    await t.step("a refusal is reported with its reason and nothing is deleted", async () => {
      await fresh();
      const { destination } = await mirrorAskingPeer(
        dir,
        () => Promise.resolve({ granted: false, refusal: "no-terminal" }),
        { keepaliveMs: 50, quietMs: 200, timeoutMs: 5_000 },
      );
      equal(destination.own.deleted, 0);
      match(destination.own.deletionsSkipped ?? "", /not a terminal; pass --yes/);
      ok((await readTree(`${dir}/dst`))["extra.txt"]);
    });

    await t.step("consent has its own deadline", async () => {
      await fresh();
      const { destination } = await mirrorAskingPeer(
        dir,
        () => new Promise(() => {}), // nobody answers; keepalives keep coming
        { keepaliveMs: 50, quietMs: 200, timeoutMs: 700 },
      );
      match(destination.own.deletionsSkipped ?? "", /consent deadline/);
      ok((await readTree(`${dir}/dst`))["extra.txt"]);
    });

    await t.step("a peer that goes quiet while asked ends the session", async () => {
      await fresh();
      await rejects(
        mirrorAskingPeer(
          dir,
          () => new Promise((resolve) => setTimeout(() => resolve({ granted: true }), 1_500)),
          { keepaliveMs: 10_000, quietMs: 200, timeoutMs: 5_000 },
        ),
        TimeoutError,
      );
      ok((await readTree(`${dir}/dst`))["extra.txt"], "nothing deleted");
    });
  });
});

Deno.test("the destination enters only directories announced as directories", async () => {
  await withTempDir(async (dir) => {
    await makeTree(dir, { "dst/x": "x" });
    const [peer, port]: [FramePort, FramePort] = localPortPair();
    const destination = new DestinationRole(port, {
      terms: { ...MIRROR, operation: "copy" },
      filter: () => true,
      tree: new PlainTree(dir),
      base: "dst",
      trailingSlash: false,
      texts: { source: "s/", destination: "dst" },
      stats: new TransferStats(),
      hasher: hashFileWasm,
      gate: new ChangeGate(false),
      consent: () => Promise.resolve({ granted: true }),
      payload: { kind: "wire", data: null },
    });
    const running = destination.run();
    const root = { path: "", kind: "dir" as const, size: 0, mtimeMs: 0, mode: 0o755 };
    await peer.send({ type: "root", root: { entry: root, name: "s", contentsOnly: true } });
    const link = {
      id: 1,
      path: "evil",
      kind: "symlink" as const,
      size: 4,
      mtimeMs: 0,
      mode: 0o777,
      linkTarget: "/tmp",
    };
    await peer.send({ type: "manifest", groups: [{ dir: "", entries: [link], complete: true }] });
    const file = { id: 2, path: "evil/f", kind: "file" as const, size: 1, mtimeMs: 0, mode: 0o644 };
    await peer.send({
      type: "manifest",
      groups: [{ dir: "evil", entries: [file], complete: true }],
    });
    await rejects(running, /not announced as a directory/);
    const aborted = await peer.next(1_000);
    equal(aborted?.type === "abort" && aborted.abort.code, "protocol");
  });
});
