/**
 * A session whose SOURCE and DESTINATION roles both run in this process, on local trees: the
 * two roles of every route, joined by an in-process port pair, with the copy workers as the
 * destination's way of copying.
 *
 * @module
 */

import { SharedPace } from "../shared_pace.ts";
import {
  absolutePath,
  checkOverlap,
  type EndpointTexts,
  type LocalEndpoint,
  placeSource,
  realPathOrAncestor,
  splitLocalPath,
} from "../endpoint.ts";
import { PlainTree } from "../tree.ts";
import type { TransferOperation, TransferSummary } from "../types.ts";
import { DestinationRole } from "./destination.ts";
import { localPortPair } from "./frames.ts";
import { ListingLookahead } from "./lookahead.ts";
import { type SessionOptions, settleRoles, setUpSession } from "./setup.ts";
import { sourcePicks, SourceRole } from "./source.ts";
import { TransferStats } from "../stats.ts";
import { transferSummary } from "./summary.ts";

const DEFAULT_COPY_WORKERS = 2;

/**
 * Runs one transfer between local paths: one source, or several merged into one root (each
 * placed in the destination as it would be alone: `a` as `DST/a`, `b/` as the contents of DST).
 *
 * @param operation The verb.
 * @param source The source endpoint, or several.
 * @param destination The destination endpoint.
 * @param options Compare rules, filters, consent and callbacks.
 * @throws {TransferRefusal} For a missing source, a directory onto a file, overlapping roots.
 * @returns The run's summary.
 */
export async function runLocalTransfer(
  operation: TransferOperation,
  sources: LocalEndpoint | readonly LocalEndpoint[],
  destination: LocalEndpoint,
  options: SessionOptions = {},
): Promise<TransferSummary> {
  const all = Array.isArray(sources)
    ? sources as readonly LocalEndpoint[]
    : [sources as LocalEndpoint];
  const source = all[0] as LocalEndpoint;
  const setup = setUpSession(operation, options);
  const { terms, filter, gate, hasher, consent, stats } = setup;
  const sourceText = all.map((s) => s.text).join(" ");
  const texts: EndpointTexts = { source: sourceText, destination: destination.text };
  const sourceAbs = absolutePath(source.path);
  const destinationAbs = absolutePath(destination.path);
  for (const pick of all) {
    // Merged, each lands as a directory's contents would (a name of its own, or the contents).
    const placed = all.length > 1 ? { ...destination, trailingSlash: true } : destination;
    const abs = absolutePath(pick.path);
    refuseOverlap(operation, pick, abs, placed, destinationAbs, { ...texts, source: pick.text });
  }
  const copyWorkers = options.copyWorkers ?? DEFAULT_COPY_WORKERS;
  stats.strategy = { copyWorkers, compare: terms.compare };
  const root = new PlainTree("/");
  const [sourcePort, destinationPort] = localPortPair();
  const sourceRole = new SourceRole(sourcePort, {
    terms,
    filter,
    tree: root,
    base: sourceAbs.slice(1),
    contentsOnly: source.trailingSlash,
    rootName: splitLocalPath(sourceAbs)[1],
    keepRoot: false,
    ...(all.length > 1 ? { merge: sourcePicks(all) } : {}),
    texts,
    stats: new TransferStats(),
    hasher,
    gate,
    payload: { kind: "local" },
  });
  let target = destinationAbs;
  const destinationRole = new DestinationRole(destinationPort, {
    terms,
    filter,
    tree: root,
    base: destinationAbs.slice(1),
    trailingSlash: destination.trailingSlash,
    texts,
    stats,
    hasher,
    gate,
    consent,
    payload: {
      kind: "local",
      source: () => sourceRole.localSource(),
      copyWorkers,
      ...(options.bandwidthLimit ? { pace: SharedPace.create(options.bandwidthLimit) } : {}),
    },
    keepSpecialBits: options.keepSpecialBits ?? true,
    lookahead: (dir) => new ListingLookahead(dir, copyWorkers > 0),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    onPlaced: (rel) => target = `/${rel}`,
  });
  const [sourceSide, destinationSide] = await settleRoles(sourceRole.run(), destinationRole.run());
  return transferSummary({
    operation,
    source: sourceText,
    destination: target,
    sourceSide: sourceSide.own,
    destinationSide: destinationSide.own,
    dryRun: terms.dryRun,
    startedAt: setup.startedAt,
  });
}

/**
 * Refuses overlapping local roots before anything runs: it places the source by the same rule
 * the destination role uses, then compares real locations. A missing source or a refused
 * placement is left to the roles, which word it.
 */
function refuseOverlap(
  operation: TransferOperation,
  source: LocalEndpoint,
  sourceAbs: string,
  destination: LocalEndpoint,
  destinationAbs: string,
  texts: EndpointTexts,
): void {
  const tree = new PlainTree("/");
  const found = tree.probe(sourceAbs.slice(1));
  if (!found.exists) return;
  const isLink = !source.trailingSlash && Deno.lstatSync(sourceAbs).isSymlink;
  const kind = isLink ? "symlink" : found.isDirectory ? "dir" : "file";
  let placement;
  try {
    placement = placeSource(
      { kind, contentsOnly: source.trailingSlash },
      { ...tree.probe(destinationAbs.slice(1)), trailingSlash: destination.trailingSlash },
      texts,
    );
  } catch {
    return;
  }
  const target = placement === "into"
    ? `${destinationAbs === "/" ? "" : destinationAbs}/${splitLocalPath(sourceAbs)[1]}`
    : destinationAbs;
  const follow = kind === "dir";
  checkOverlap(operation, kind, locationOf(sourceAbs, follow), locationOf(target, follow), texts);
}

/** The real location of a path: its own real path, or (for a file or link) its directory's. */
function locationOf(abs: string, follow: boolean): string {
  if (follow || abs === "/") return realPathOrAncestor(abs);
  const [parent, name] = splitLocalPath(abs);
  const real = realPathOrAncestor(parent);
  return `${real === "/" ? "" : real}/${name}`;
}
