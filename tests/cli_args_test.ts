import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { parseArgs as nodeParseArgs } from "node:util";
import { parseTransferArgs } from "../cli/args.ts";
import { explainArgs } from "../cmdline/explain_args.ts";
import { parseOneTarget } from "../cmdline/parse_one_target.ts";
import { type OptionsConfig, parseArgs } from "../cmdline/parse_args.ts";
import { UsageError } from "../core/errors.ts";

/** The option tables of the verbs that use the parser, as they are written in cli/ and utils/. */
const TABLES: Record<string, OptionsConfig> = {
  transfer: {
    checksum: { type: "boolean", short: "c" },
    "size-only": { type: "boolean" },
    "ignore-times": { type: "boolean", short: "I" },
    "ignore-existing": { type: "boolean" },
    exclude: { type: "string", multiple: true },
    include: { type: "string", multiple: true },
    "dry-run": { type: "boolean", short: "n" },
    verbose: { type: "boolean", short: "v" },
    progress: { type: "boolean", short: "p" },
    "no-progress": { type: "boolean" },
    json: { type: "boolean" },
    yes: { type: "boolean", short: "y" },
    workers: { type: "string" },
    "no-history": { type: "boolean" },
    "force-grpc": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
  scan: {
    wait: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
  find: {
    pattern: { type: "string", short: "P" },
    files: { type: "boolean" },
    "case-insensitive": { type: "boolean", short: "i" },
    limit: { type: "string", short: "l" },
    repeat: { type: "boolean", short: "r", multiple: true },
    help: { type: "boolean", short: "h" },
  },
};

/** What a parser did with one command line: its result, or its error's code and message. */
function outcome(parse: () => unknown): unknown {
  try {
    return { ok: parse() };
  } catch (error) {
    const e = error as Error & { code?: string };
    return { error: e.code, name: e.name, message: e.message };
  }
}

function assertSameAsNode(args: string[], table: string, allowPositionals: boolean): void {
  const options = TABLES[table] as OptionsConfig;
  const ours = outcome(() => parseArgs({ args, options, allowPositionals, strict: true }));
  const node = outcome(() =>
    nodeParseArgs({ args, options, allowPositionals, strict: true, tokens: true })
  );
  deepStrictEqual(ours, node, `${table} ${allowPositionals} ${JSON.stringify(args)}`);
}

const CASES: string[][] = [
  [],
  ["src/", "dst"],
  ["-v", "a"],
  ["--exclude", "x", "-cvn", "--", "-z", "--exclude"],
  ["--exclude=*.log", "--include", "keep.log", "--exclude", "*.tmp", "a", "b"],
  ["--exclude="],
  ["--exclude", ""],
  ["--exclude", "-a"],
  ["--exclude=-a"],
  ["--exclude", "-"],
  ["--exclude"],
  ["a", "--exclude"],
  ["--workers", "3", "--workers=4"],
  ["--bogus"],
  ["--bogus=1"],
  ["-x"],
  ["-vx"],
  ["-xv"],
  ["--verbose=1"],
  ["--verbose="],
  ["-v=1"],
  ["-"],
  ["--"],
  ["--", "--"],
  ["--=x"],
  ["---x"],
  ["--__proto__"],
  ["__proto__"],
  ["--toString"],
  ["--constructor"],
  ["-h"],
  ["--help", "extra"],
  ["-cI"],
  ["-yy", "-y"],
  ["--wait", "2", "--json"],
  ["--wait=0.5"],
  ["--wait", "--json"],
  ["-iPfoo", "t"],
  ["-iP", "foo", "t"],
  ["-Pfoo"],
  ["-P", "-x"],
  ["-iP"],
  ["-il", "5", "-r", "-rr"],
  ["-ilx"],
  ["-P=x"],
  ["--pattern", "*.ts", "--pattern=*.js"],
  ["--case-insensitive", "--files=yes"],
  ["-ä"],
  ["-😀"],
];

Deno.test("parseArgs: same results, tokens and errors as node:util parseArgs", () => {
  for (const table of Object.keys(TABLES)) {
    for (const args of CASES) {
      assertSameAsNode(args, table, true);
      assertSameAsNode(args, table, false);
    }
  }
});

Deno.test("parseArgs: same as node:util on random command lines", () => {
  const pieces = [
    "--exclude",
    "--include",
    "--exclude=*.log",
    "--include=",
    "-c",
    "-cv",
    "-nvy",
    "-vI",
    "-I",
    "--",
    "-",
    "a",
    "b/",
    "-x",
    "--bogus",
    "--json=1",
    "--json",
    "--workers",
    "3",
    "-h",
    "--verbose",
    "--no-progress",
    "-p",
    "--wait",
    "--pattern",
    "-P",
    "-Px",
    "-iPx",
    "-il",
    "-r",
    "-ri",
    "--limit=2",
    "=x",
    "---y",
  ];
  let seed = 12345;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < 3000; i++) {
    const args = Array.from({ length: random(7) }, () => pieces[random(pieces.length)] as string);
    const table = Object.keys(TABLES)[random(3)] as string;
    assertSameAsNode(args, table, random(4) !== 0);
  }
});

Deno.test("parseTransferArgs: include and exclude keep their order across both flags", () => {
  const parsed = parseTransferArgs("copy", [
    "--exclude",
    "cache/",
    "src/",
    "--include=important.log",
    "-v",
    "--exclude=*.log",
    "dst",
    "--include=--weird",
    "-n",
  ]);
  ok(parsed !== "help");
  deepStrictEqual(parsed.filters, [
    { action: "exclude", pattern: "cache/" },
    { action: "include", pattern: "important.log" },
    { action: "exclude", pattern: "*.log" },
    { action: "include", pattern: "--weird" },
  ]);
  equal(parsed.verbose, true);
  deepStrictEqual([parsed.sources, parsed.destination], [["src/"], "dst"]);
});

Deno.test("parseTransferArgs: rsync's flags", () => {
  const parsed = parseTransferArgs("copy", [
    "-avhPqu",
    "--delete",
    "--delete-excluded",
    "--min-size",
    "1.5k",
    "--max-size=2M",
    "--bwlimit",
    "100",
    "--log-file",
    "/tmp/x.log",
    "--contimeout",
    "2",
    "--timeout=500ms",
    "--stats=30s",
    "a",
    "b",
  ]);
  ok(parsed !== "help");
  deepStrictEqual(
    [parsed.operation, parsed.verbose, parsed.progress, parsed.quiet, parsed.update],
    ["mirror", true, true, true, true],
  );
  deepStrictEqual([parsed.minSize, parsed.maxSize, parsed.bandwidthLimit], [
    1536,
    2_097_152,
    102_400,
  ]);
  deepStrictEqual(
    [parsed.deleteExcluded, parsed.logFile, parsed.connectTimeoutMs, parsed.idleTimeoutMs],
    [true, "/tmp/x.log", 2000, 500],
  );
  equal(parsed.statsEveryMs, 30_000);
  const stats = parseTransferArgs("copy", ["--stats", "a", "b"]);
  ok(stats !== "help");
  equal(stats.statsEveryMs, 0);
  const noTimeout = parseTransferArgs("copy", ["--timeout", "0", "--bwlimit=0", "a", "b"]);
  ok(noTimeout !== "help");
  deepStrictEqual([noTimeout.idleTimeoutMs, noTimeout.bandwidthLimit], [0, null]);
  equal(parseTransferArgs("copy", ["-h", "a", "b"]), "help");
  for (
    const [args, message] of [
      [["--delete", "a", "b"], /^Cannot use --delete with move/],
      [["--min-size", "10x", "a", "b"], /^Cannot use --min-size "10x": give a number/],
      [["--bwlimit", "fast", "a", "b"], /^Cannot use --bwlimit "fast".*a bare number is KiB/],
      [["--contimeout", "0", "a", "b"], /^Cannot use --contimeout "0": give seconds/],
      [["--timeout", "-1", "a", "b"], /^Cannot use --timeout/],
      [["-P", "--no-resume", "a", "b"], /^Cannot combine -P\/--partial/],
      [["--delete-excluded", "a", "b"], /^Cannot use --delete-excluded with move/],
      [["--files-from", "/nonexistent/list", "a", "b"], /^Cannot read --files-from/],
    ] as const
  ) {
    throws(
      () => parseTransferArgs("move", [...args]),
      { name: "UsageError", message },
      args.join(" "),
    );
  }
});

Deno.test("parseTransferArgs: every flag", () => {
  const parsed = parseTransferArgs("mirror", [
    "-I",
    "--ignore-existing",
    "-n",
    "-v",
    "--no-progress",
    "--json",
    "-y",
    "--workers",
    "3",
    "--no-history",
    "--force-grpc",
    "-W",
    "--no-resume",
    "--max-delete",
    "7",
    "--keep-special-bits",
    "--",
    "-src",
    "--dst",
  ]);
  deepStrictEqual(parsed, {
    operation: "mirror",
    sources: ["-src"],
    destination: "--dst",
    compare: "ignore-times",
    ignoreExisting: true,
    filters: [],
    dryRun: true,
    verbose: true,
    itemize: false,
    progress: false,
    json: true,
    yes: true,
    workers: 3,
    noHistory: true,
    forceGrpc: true,
    hardLinks: false,
    wholeFile: true,
    noResume: true,
    maxDelete: 7,
    keepSpecialBits: true,
    security: {},
    quiet: false,
    update: false,
    minSize: null,
    maxSize: null,
    deleteExcluded: false,
    bandwidthLimit: null,
    logFile: null,
    connectTimeoutMs: 10_000,
    idleTimeoutMs: 60_000,
    statsEveryMs: null,
    oneFileSystem: false,
    noOwner: false,
    backup: null,
  });
  throws(() => parseTransferArgs("mirror", ["--max-delete", "-1", "a", "b"]), UsageError);
  throws(() => parseTransferArgs("mirror", ["--max-delete", "x", "a", "b"]), UsageError);
  throws(() => parseTransferArgs("copy", ["--max-delete", "1", "a", "b"]), UsageError);
  const zero = parseTransferArgs("mirror", ["--max-delete", "0", "a", "b"]);
  ok(zero !== "help");
  equal(zero.maxDelete, 0);
  const defaults = parseTransferArgs("copy", ["a", "b"]);
  ok(defaults !== "help");
  deepStrictEqual(
    [defaults.compare, defaults.progress, defaults.workers, defaults.json, defaults.yes],
    ["size-mtime", undefined, undefined, false, false],
  );
  const progress = parseTransferArgs("copy", ["-p", "a", "b"]);
  ok(progress !== "help");
  equal(progress.progress, true);
  equal(parseTransferArgs("copy", ["--help"]), "help");
  equal(parseTransferArgs("move", ["-h"]), "help");
  const checksum = parseTransferArgs("copy", ["-c", "a", "b"]);
  ok(checksum !== "help");
  equal(checksum.compare, "checksum");
  const sizeOnly = parseTransferArgs("copy", ["--size-only", "a", "b"]);
  ok(sizeOnly !== "help");
  equal(sizeOnly.compare, "size-only");
});

Deno.test("parseTransferArgs: bad command lines give one-line usage errors", () => {
  const cases: [string[], string][] = [
    [
      ["--frobnicate", "a", "b"],
      'Cannot use unknown option "--frobnicate": run "blit copy --help"',
    ],
    [["-Z", "a", "b"], 'Cannot use unknown option "-Z": run "blit copy --help"'],
    [["-cZ", "a", "b"], 'Cannot use unknown option "-Z": run "blit copy --help"'],
    [
      ["--verbose=yes", "a", "b"],
      "Cannot parse arguments: Option '-v, --verbose' does not take an argument",
    ],
    [
      ["a", "b", "--exclude"],
      'Cannot use option "--exclude <value>" without a value: run "blit copy --help"',
    ],
    [
      ["--exclude", "-x", "a", "b"],
      'Cannot use --exclude "-x": a value that starts with "-" must be attached, as ' +
      '--exclude=-x; run "blit copy --help"',
    ],
    [["--workers", "-1", "a", "b"], 'Cannot use --workers "-1": give a whole number from 0 to 64'],
    [
      ["--workers", "1e1", "a", "b"],
      'Cannot use --workers "1e1": give a whole number from 0 to 64',
    ],
    [
      ["--max-delete", "-1", "a", "b"],
      'Cannot use --max-delete "-1": give a whole number from 0 to 999999999999999 (0 refuses ' +
      "every deletion)",
    ],
    [
      ["a"],
      "Cannot copy: expected SRC and DST, got 1 path(s); usage: blit copy [options] SRC... DST",
    ],
    [
      ["-c", "-I", "a", "b"],
      "Cannot combine --checksum with --ignore-times: pick one compare mode",
    ],
    [["--workers", "65", "a", "b"], 'Cannot use --workers "65": give a whole number from 0 to 64'],
    [["-p", "--no-progress", "a", "b"], "Cannot combine --progress with --no-progress: pick one"],
  ];
  for (const [args, message] of cases) {
    throws(() => parseTransferArgs("copy", args), (error: unknown) => {
      ok(error instanceof UsageError, String(error));
      equal(error.message, message);
      return true;
    });
  }
});

Deno.test("explainArgs words node:util and our parser's errors alike", () => {
  const bad = [["--nope"], ["x"], ["--wait"], ["--json=1"], ["-hx"]];
  const options = TABLES.scan as OptionsConfig;
  for (const args of bad) {
    const ours = outcome(() => explainArgs("blit scan", () => parseArgs({ args, options })));
    const node = outcome(() => explainArgs("blit scan", () => nodeParseArgs({ args, options })));
    deepStrictEqual(ours, node);
    ok((ours as { message?: string }).message?.startsWith("Cannot "));
  }
});

Deno.test("parseOneTarget: target, --json, help and errors", () => {
  const options = { help: "HELP", expected: "TARGET" };
  deepStrictEqual(parseOneTarget("blit list", ["--json", "nas"], options), {
    target: "nas",
    json: true,
    security: {},
  });
  deepStrictEqual(parseOneTarget("blit list", ["--", "-odd"], options), {
    target: "-odd",
    json: false,
    security: {},
  });
  throws(() => parseOneTarget("blit list", ["a", "b"], options), /expected TARGET, got 2/);
  throws(
    () => parseOneTarget("blit list", ["--all", "a"], options),
    /^UsageError: Cannot use unknown option "--all": run "blit list --help"$/,
  );
});
