/**
 * Fake peers for the hostile-peer tables: a FAKE DAEMON (a grpc-js server in this process that
 * accepts any Open and then plays a scripted lie, as the real `blit` talks to it) and the pieces
 * a fake client plays against the real daemon (the same {@linkcode playSource}), with the checks
 * every row shares: a file watcher that sees even a temporary created and removed again, the
 * shape of a tree, a snapshot of everything outside a subtree, and what a refusal looks like.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import {
  type ClientFrame,
  EntryKind as WireKind,
  type Open,
  type ServerFrame,
} from "../../proto/gen/blit_pb.ts";
import type { Frame, ManifestItem, Need, SideSummary } from "../../core/session/frames.ts";
import { listenFiltered } from "../../core/transport/goaway_filter.ts";
import {
  type RawFrame,
  type StreamFramePort,
  streamFramePort,
} from "../../core/transport/stream_port.ts";
import { blitServerOptions, PROTOCOL_VERSION } from "../../core/transport/grpc_service.ts";
import { FramedStream } from "../../core/transport/frame_stream.ts";
import { assertNoStack, readTree, type RunResult, spawnBlit, type TreeEntry } from "../_helpers.ts";
import { CLIENT_FRAME_CODEC, SERVER_FRAME_CODEC } from "../../core/transport/frame_tables.ts";

/** Longest wait for any one frame, process or server of a hostile table. */
export const WAIT_MS = 20_000;

/** The modification time every fake entry carries. */
export const T = Date.UTC(2024, 0, 2, 3, 4, 5);

const encoder = new TextEncoder();

/** One step of a fake peer: an engine frame, or a raw protobuf frame the engine won't build. */
export type Step = Frame | { raw: RawFrame };

/** What a fake source says and the payload it sends for the ids the destination asks for. */
export interface Lie {
  /** Root, manifest groups, anything else (`manifestEnd` is added unless `noManifestEnd`). */
  steps: Step[];
  /** Payload by manifest id (text or bytes); a need for another id gets an empty chunk. */
  payload: Record<number, string | Uint8Array>;
  /** Do not add the manifest's end after the steps. */
  noManifestEnd?: boolean;
  /**
   * What to send for one need instead of one honest chunk (a size or offset lie, say).
   * @param need The destination's need.
   * @param data The payload of `need.id`.
   * @returns The steps to send.
   */
  answer?: (need: Need, data: Uint8Array) => Step[];
  /** The summary sent at the end (default {@linkcode NO_SUMMARY}). */
  summary?: SideSummary;
  /**
   * Leave the needs' end unanswered: the peer is expected to refuse the lie first, and a frame
   * written after it ended the call makes grpc-js drop what it said (its error frame).
   */
  holdDataEnd?: boolean;
  /**
   * After the steps, only listen: the lie is in them, and an answer written after the peer
   * ended the call makes grpc-js drop the peer's error frame.
   */
  silent?: boolean;
}

/** The port a fake plays on (either end of a `Transfer` call). */
export type PeerPort = StreamFramePort<ClientFrame> | StreamFramePort<ServerFrame>;

/** The summary a fake side sends: nothing done. */
export const NO_SUMMARY: SideSummary = {
  examined: 0,
  transferred: 0,
  bytes: 0,
  deleted: 0,
  sourcesRemoved: 0,
  failed: 0,
  failures: [],
  deletionsSkipped: null,
};

/**
 * Resolves `promise`, or rejects after `ms` naming what did not finish.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { within } from "./_fake_daemon.ts";
 * strictEqual(await within(Promise.resolve(1), 1000, "one"), 1);
 * ```
 *
 * @param promise What to wait for.
 * @param ms Longest wait.
 * @param what Named in the error.
 * @returns What `promise` resolved to.
 */
export async function within<R>(promise: Promise<R>, ms: number, what: string): Promise<R> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A directory entry of the manifest.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { dirItem } from "./_fake_daemon.ts";
 * strictEqual(dirItem(1, "d").kind, "dir");
 * ```
 *
 * @param id Manifest id.
 * @param path Path as sent.
 * @returns The entry.
 */
export function dirItem(id: number, path: string): ManifestItem {
  return { id, path, kind: "dir", size: 0, mtimeMs: T, mode: 0o755 };
}

/**
 * A file entry of the manifest, `content` being what the fake sends for it.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { fileItem } from "./_fake_daemon.ts";
 * strictEqual(fileItem(1, "f", "abc").size, 3);
 * ```
 *
 * @param id Manifest id.
 * @param path Path as sent.
 * @param content The text whose size is announced.
 * @returns The entry.
 */
export function fileItem(id: number, path: string, content: string): ManifestItem {
  return {
    id,
    path,
    kind: "file",
    size: encoder.encode(content).length,
    mtimeMs: T,
    mode: 0o644,
  };
}

/**
 * A symlink entry of the manifest.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { linkItem } from "./_fake_daemon.ts";
 * strictEqual(linkItem(1, "l", "/etc").linkTarget, "/etc");
 * ```
 *
 * @param id Manifest id.
 * @param path Path as sent.
 * @param target The link's target.
 * @returns The entry.
 */
export function linkItem(id: number, path: string, target: string): ManifestItem {
  return {
    id,
    path,
    kind: "symlink",
    size: target.length,
    mtimeMs: T,
    mode: 0o777,
    linkTarget: target,
  };
}

/**
 * A directory root named `name`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { root } from "./_fake_daemon.ts";
 * strictEqual(root("x", true).type, "root");
 * ```
 *
 * @param name The root's name.
 * @param contentsOnly Only its contents travel (`SRC/`).
 * @returns The frame.
 */
export function root(name: string, contentsOnly: boolean): Frame {
  return {
    type: "root",
    root: {
      entry: { path: "", kind: "dir", size: 0, mtimeMs: T, mode: 0o755 },
      name,
      contentsOnly,
    },
  };
}

/**
 * A directory root as raw protobuf: the name is sent exactly as given, as no honest source
 * (`SourceRole`) would ever build it.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { rawRoot } from "./_fake_daemon.ts";
 * ok("raw" in rawRoot("../x"));
 * ```
 *
 * @param name The root's name, as sent.
 * @param contentsOnly Only its contents travel.
 * @returns The step.
 */
export function rawRoot(name: string, contentsOnly = false): Step {
  return {
    raw: {
      case: "sourceRoot",
      value: {
        entry: {
          id: 0,
          path: "",
          kind: WireKind.DIR,
          mode: 0o755,
          mtimeNs: BigInt(T) * 1_000_000n,
        },
        name,
        contentsOnly,
      },
    },
  };
}

/**
 * One complete manifest group.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { fileItem, group } from "./_fake_daemon.ts";
 * const frame = group("", fileItem(1, "f", "x"));
 * strictEqual(frame.type === "manifest" && frame.groups[0]?.entries.length, 1);
 * ```
 *
 * @param dir The group's directory.
 * @param entries Its entries.
 * @returns The frame.
 */
export function group(dir: string, ...entries: ManifestItem[]): Frame {
  return { type: "manifest", groups: [{ dir, entries, complete: true }] };
}

/**
 * Sends one step.
 * @param port Where.
 * @param step What.
 */
export async function sendStep(port: PeerPort, step: Step): Promise<void> {
  await ("raw" in step ? port.sendRaw(step.raw) : port.send(step));
}

/**
 * Plays the SOURCE role as `lie` says: sends its steps and the manifest's end, then answers
 * needs with `chunk` frames (or `lie.answer`'s steps), the needs' end with `dataEnd`, consent
 * requests with yes, and the peer's summary with an empty one.
 *
 * @example Usage
 * ```ts ignore
 * const seen = await playSource(port, { steps: [root("x", false), group("")], payload: {} });
 * ```
 *
 * @param port The fake's end of the call.
 * @param lie What to say.
 * @returns Every frame the peer sent.
 */
export async function playSource(port: PeerPort, lie: Lie): Promise<Frame[]> {
  const seen: Frame[] = [];
  try {
    for (const step of lie.steps) await sendStep(port, step);
    if (!lie.noManifestEnd) {
      await port.send({ type: "manifestEnd", scanComplete: true, entries: 0, bytes: 0 });
    }
    if (lie.silent) return await drain(port, seen);
    while (true) {
      const frame = await port.next(WAIT_MS);
      if (frame === null) return seen;
      seen.push(frame);
      switch (frame.type) {
        case "needs":
          for (const need of frame.needs) {
            const payload = lie.payload[need.id] ?? "";
            const data = typeof payload === "string" ? encoder.encode(payload) : payload;
            const steps: Step[] = lie.answer
              ? lie.answer(need, data)
              : [{ type: "chunk", id: need.id, offset: 0, data, last: true }];
            for (const step of steps) await sendStep(port, step);
          }
          break;
        case "needEnd":
          if (!lie.holdDataEnd) await port.send({ type: "dataEnd", failures: [] });
          break;
        case "consentRequest":
          await port.send({ type: "consentReply", granted: true, refusal: null });
          break;
        case "summary":
          await port.send({ type: "summary", summary: lie.summary ?? NO_SUMMARY });
          return seen;
        case "abort":
          return seen;
      }
    }
  } catch {
    return await drain(port, seen); // the peer hung up on the lie
  }
}

/** After a failed send: the frames the peer sent before it hung up (its abort, say). */
async function drain(port: PeerPort, seen: Frame[]): Promise<Frame[]> {
  try {
    while (true) {
      const frame = await port.next(WAIT_MS);
      if (frame === null) return seen;
      seen.push(frame);
      if (frame.type === "abort") return seen;
    }
  } catch {
    return seen;
  }
}

/** What a fake DESTINATION says once the source's manifest has ended. */
export interface DestinationLie {
  /**
   * Sent right after the manifest's end, before the needs' end (needs, requests, …).
   * @param entries Every manifest entry the source announced (the root is id 0).
   * @returns The steps.
   */
  early: (entries: ManifestItem[]) => Step[];
  /**
   * Sent after the source's data end, before the summary (a consent request, say).
   * @param entries Every manifest entry the source announced.
   * @returns The steps.
   */
  late?: (entries: ManifestItem[]) => Step[];
}

/**
 * Plays the DESTINATION role as `lie` says: reads the root and the manifest to its end, sends
 * `lie.early`, the needs' end, waits for the data's end, sends `lie.late` (waiting for the
 * answer to a consent request among them), then exchanges summaries. Returns early when the
 * peer aborts or hangs up.
 *
 * @example Usage
 * ```ts ignore
 * const seen = await playDestination(port, {
 *   early: () => [{ type: "needs", needs: [{ id: 2 ** 32 - 1, path: "a" }] }],
 * });
 * ```
 *
 * @param port The fake's end of the call.
 * @param lie What to say.
 * @returns Every frame the peer sent.
 */
export async function playDestination(port: PeerPort, lie: DestinationLie): Promise<Frame[]> {
  const seen: Frame[] = [];
  const entries: ManifestItem[] = [];
  /** The next frame that matters; `null` when the peer aborted or left. */
  const next = async (): Promise<Frame | null> => {
    while (true) {
      const frame = await port.next(WAIT_MS);
      if (frame === null) return null;
      seen.push(frame);
      if (frame.type === "abort") return null;
      if (frame.type === "keepalive" || frame.type === "chunk") continue;
      return frame;
    }
  };
  try {
    while (true) {
      const frame = await next();
      if (frame === null) return seen;
      if (frame.type === "root") entries.push({ ...frame.root.entry, id: 0 });
      if (frame.type === "manifest") { for (const g of frame.groups) entries.push(...g.entries); }
      if (frame.type === "manifestEnd") break;
    }
    for (const step of lie.early(entries)) await sendStep(port, step);
    await port.send({ type: "needEnd", needs: 0, bytes: 0 });
    while (true) {
      const frame = await next();
      if (frame === null) return seen;
      if (frame.type === "dataEnd") break;
    }
    const late = lie.late?.(entries) ?? [];
    for (const step of late) await sendStep(port, step);
    if (late.some((step) => "type" in step && step.type === "consentRequest")) {
      const reply = await next();
      if (reply === null) return seen;
    }
    await port.send({ type: "summary", summary: NO_SUMMARY });
    while (true) {
      const frame = await next();
      if (frame === null || frame.type === "summary") return seen;
    }
  } catch {
    return await drain(port, seen); // the peer hung up on the lie
  }
}

/** A fake daemon's own session script: it runs after the Accept, on the daemon's end. */
export type DaemonScript = (port: StreamFramePort<ClientFrame>, open: Open) => Promise<unknown>;

/** A fake daemon: accepts any Open (payload in the control stream), then plays its lie. */
export interface FakeDaemon {
  /** `127.0.0.1:PORT`. */
  address: string;
  /** The lie the next session tells as a SOURCE (when `script` is `null`). */
  lie: Lie;
  /** Plays the next session instead of `lie` (any role; the Open says what the client asked). */
  script: DaemonScript | null;
  /**
   * What a session whose Open names this path plays, before `script` and `lie`: rows that run
   * at the same time each name their own path.
   */
  byPath: Map<string, Lie | DaemonScript>;
  /**
   * Arms a cut: the next write of at least `minBytes` bytes to a client connection sends only
   * its first half, then the connection is destroyed (the daemon "stops mid-frame").
   */
  cutMidFrame(minBytes: number): void;
  /** Destroys every client connection at once (as the kernel does when a daemon dies). */
  dropConnections(): void;
  /** Stops the server. */
  stop(): Promise<void>;
}

/** A socket as the GOAWAY filter hands it over, with the write the cut replaces. */
interface Writable {
  write(data: Uint8Array, callback?: (error?: Error | null) => void): boolean;
  destroy(): void;
}

/**
 * Starts a fake daemon on a free loopback port, served the way blitd serves (GOAWAY filter),
 * in plaintext (clients need `--no-tls`).
 *
 * @example Usage
 * ```ts ignore
 * const fake = await startFakeDaemon();
 * fake.lie = { steps: [rawRoot("../x")], payload: {} };
 * await runBlit(["copy", `${fake.address}:/m/x`, "dst/", "--no-tls"]);
 * await fake.stop();
 * ```
 *
 * @returns The running fake.
 */
export async function startFakeDaemon(): Promise<FakeDaemon> {
  const server = new grpc.Server(blitServerOptions());
  const sockets = new Set<Writable>();
  let cutAt: number | null = null;
  const fake: FakeDaemon = {
    address: "",
    lie: { steps: [], payload: {} },
    script: null,
    byPath: new Map(),
    cutMidFrame: (minBytes) => void (cutAt = minBytes),
    dropConnections: () => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    stop: () => Promise.resolve(),
  };
  const serveTransfer = (call: FramedStream<ServerFrame, ClientFrame>): void => {
    const port = streamFramePort<ServerFrame, ClientFrame>(call, SERVER_FRAME_CODEC, {
      idleTimeoutMs: WAIT_MS,
    });
    const lie = fake.lie;
    const script = fake.script;
    (async () => {
      const hello = await port.nextRaw();
      if (hello?.case !== "hello") return;
      await port.sendRaw({
        case: "challenge",
        value: { nonce: new Uint8Array(32), tlsFingerprint: "" },
      });
      const open = await port.nextRaw();
      if (open?.case !== "open") return;
      await port.sendRaw({ case: "accept", value: { protocolVersion: PROTOCOL_VERSION } });
      const chosen = fake.byPath.get(open.value.path) ?? script ?? lie;
      await (typeof chosen === "function" ? chosen(port, open.value) : playSource(port, chosen));
    })().catch(() => {}).finally(() => {
      try {
        call.end();
      } catch { /* already closed */ }
    });
  };
  const { listener, port } = await listenFiltered(server, grpc.ServerCredentials.createInsecure(), {
    hostname: "127.0.0.1",
    port: 0,
    onTransfer: (stream, socket) =>
      serveTransfer(
        new FramedStream<ServerFrame, ClientFrame>(stream, SERVER_FRAME_CODEC, CLIENT_FRAME_CODEC, {
          peer: socket,
        }),
      ),
    admit: (socket) => {
      const writable = socket as unknown as Writable;
      const write = writable.write.bind(writable);
      sockets.add(writable);
      socket.once("close", () => sockets.delete(writable));
      writable.write = (data, callback) => {
        if (cutAt === null || data.length < cutAt) return write(data, callback);
        cutAt = null;
        write(data.subarray(0, data.length >> 1));
        setTimeout(() => writable.destroy(), 50);
        return false;
      };
      return true;
    },
  });
  fake.address = `127.0.0.1:${port}`;
  fake.stop = () =>
    within(
      new Promise<void>((resolve) => {
        listener.close();
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
      }),
      WAIT_MS,
      "stopping the fake daemon",
    );
  return fake;
}

/** What a {@linkcode watchChanges} saw. */
export interface ChangeWatch {
  /** Stops watching. @returns Every change seen, as `kind path`. */
  stop(): Promise<string[]>;
}

/**
 * Watches a directory tree for changes (creations, writes, removals; reads are not changes), so
 * that a temporary written outside and removed again is caught too, not only what stays.
 *
 * @example Usage
 * ```ts ignore
 * const watch = watchChanges(victim, [`${dir}/work/dst`]);
 * // … run the lie …
 * deepStrictEqual(await watch.stop(), []);
 * ```
 *
 * @param path The tree to watch.
 * @param ignore Subtrees of `path` whose changes are expected (the destination).
 * @returns The watch.
 */
export function watchChanges(path: string, ignore: readonly string[] = []): ChangeWatch {
  const watcher = Deno.watchFs(path, { recursive: true });
  const changes: string[] = [];
  const ignored = (p: string): boolean => ignore.some((i) => p === i || p.startsWith(`${i}/`));
  const watching = (async () => {
    for await (const event of watcher) {
      if (event.kind === "access") continue;
      for (const p of event.paths) if (!ignored(p)) changes.push(`${event.kind} ${p}`);
    }
  })();
  return {
    stop: async () => {
      await new Promise((resolve) => setTimeout(resolve, 100)); // let late events arrive
      watcher.close();
      await within(watching, WAIT_MS, "closing a file watcher");
      return changes;
    },
  };
}

/**
 * Runs the real CLI; a run that takes longer than `deadlineMs` is killed and fails the test
 * (a hostile peer must never make the CLI hang).
 *
 * @example Usage
 * ```ts ignore
 * const r = await blit(["copy", `${fake.address}:/m/x`, `${dst}/`, "--no-tls"]);
 * ```
 *
 * @param args CLI arguments.
 * @param deadlineMs Longest run.
 * @returns Exit code and output.
 */
export async function blit(args: string[], deadlineMs = WAIT_MS * 2): Promise<RunResult> {
  const { child, result } = spawnBlit(args);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) =>
    timer = setTimeout(() => resolve("late"), deadlineMs)
  );
  try {
    const first = await Promise.race([result, late]);
    if (first !== "late") return first;
    try {
      child.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
    const r = await result;
    throw new Error(`blit ${args.join(" ")} did not finish within ${deadlineMs} ms:\n${r.stderr}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Path → kind (and link target or file text) of a tree, to state what a directory holds.
 *
 * @example Usage
 * ```ts ignore
 * deepStrictEqual(await shape(dst), { "x": "dir", "x/f": "file:text" });
 * ```
 *
 * @param dir The tree.
 * @returns Its shape.
 */
export async function shape(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [path, entry] of Object.entries(await readTree(dir))) {
    out[path] = entry.kind === "dir" ? "dir" : `${entry.kind}:${entry.content}`;
  }
  return out;
}

/**
 * Everything under `dir` except the subtree `skip` (relative), byte for byte with metadata.
 *
 * @example Usage
 * ```ts ignore
 * const before = await snapshotOutside(dir, "work/dst");
 * ```
 *
 * @param dir The tree.
 * @param skip The subtree left out.
 * @returns The snapshot.
 */
export async function snapshotOutside(
  dir: string,
  skip: string,
): Promise<Record<string, TreeEntry>> {
  const all = await readTree(dir);
  return Object.fromEntries(
    Object.entries(all).filter(([path]) => path !== skip && !path.startsWith(`${skip}/`)),
  );
}

/** The lines of stderr that matter (the plaintext warning a fake daemon causes is left out). */
function stderrLines(r: RunResult): string[] {
  return r.stderr.trim().split("\n").filter((l) => l !== "" && !l.includes("is not encrypted"));
}

/**
 * A refusal: exit code 1, one line on stderr naming the problem, no stack trace.
 *
 * @example Usage
 * ```ts ignore
 * assertRefused(r, /it has a "\.\." segment/);
 * ```
 *
 * @param r The run.
 * @param why What the line must say.
 */
export function assertRefused(r: RunResult, why: RegExp): void {
  equal(r.code, 1, `expected exit 1:\n${r.stderr}`);
  assertNoStack(r.stderr + r.stdout);
  const lines = stderrLines(r);
  equal(lines.length, 1, `expected one line on stderr:\n${r.stderr}`);
  ok(why.test(r.stderr), `expected ${why} on stderr:\n${r.stderr}`);
}

/**
 * Output that cannot drive a terminal: no control character but the line breaks.
 *
 * @example Usage
 * ```ts
 * import { assertPrintable } from "./_fake_daemon.ts";
 * assertPrintable("one\ntwo\n");
 * ```
 *
 * @param text What a process printed.
 */
export function assertPrintable(text: string): void {
  // deno-lint-ignore no-control-regex
  const bad = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/.exec(text);
  ok(
    bad === null,
    `raw control character U+${bad?.[0].charCodeAt(0).toString(16)} in:\n${JSON.stringify(text)}`,
  );
}
