import {
  deepStrictEqual as assertEquals,
  strictEqual,
  throws as assertThrows,
} from "node:assert/strict";
import {
  absolutePath,
  checkOverlap,
  DEFAULT_PORT,
  type Endpoint,
  formatEndpoint,
  formatHostAddress,
  isRemote,
  lookupModule,
  ModuleUnknownError,
  parseEndpoint,
  parseHostAddress,
  placeSource,
  TransferRefusal,
} from "../core/endpoint.ts";
import type { EntryKind } from "../core/types.ts";

/** Expected remote fields (everything but `kind` and `text`). */
interface RemoteCase {
  host: string;
  port: number;
  module: string | null;
  path: string;
  trailingSlash: boolean;
}

const REMOTE_CASES: [string, RemoteCase][] = [
  ["nas:/photos/", { host: "nas", port: 9031, module: "photos", path: "", trailingSlash: true }],
  ["nas:/photos/2024/trip.jpg", {
    host: "nas",
    port: 9031,
    module: "photos",
    path: "2024/trip.jpg",
    trailingSlash: false,
  }],
  ["nas:/photos/2024/trip/", {
    host: "nas",
    port: 9031,
    module: "photos",
    path: "2024/trip",
    trailingSlash: true,
  }],
  ["nas:/photos//2024/./trip//x", {
    host: "nas",
    port: 9031,
    module: "photos",
    path: "2024/trip/x",
    trailingSlash: false,
  }],
  ["nas:/photos/dir/.", {
    host: "nas",
    port: 9031,
    module: "photos",
    path: "dir",
    trailingSlash: true,
  }],
  ["nas:/photos/./", { host: "nas", port: 9031, module: "photos", path: "", trailingSlash: true }],
  ["nas:/m.x_y-z/a", {
    host: "nas",
    port: 9031,
    module: "m.x_y-z",
    path: "a",
    trailingSlash: false,
  }],
  ["nas://", { host: "nas", port: 9031, module: null, path: "", trailingSlash: true }],
  ["nas://srv/data", {
    host: "nas",
    port: 9031,
    module: null,
    path: "srv/data",
    trailingSlash: false,
  }],
  ["nas://srv/data/", {
    host: "nas",
    port: 9031,
    module: null,
    path: "srv/data",
    trailingSlash: true,
  }],
  ["nas:///abs//x", { host: "nas", port: 9031, module: null, path: "abs/x", trailingSlash: false }],
  ["nas:9000:/m/", { host: "nas", port: 9000, module: "m", path: "", trailingSlash: true }],
  ["nas:1:/m/a", { host: "nas", port: 1, module: "m", path: "a", trailingSlash: false }],
  ["nas:65535://x", { host: "nas", port: 65535, module: null, path: "x", trailingSlash: false }],
  ["10.0.0.7:/m/a/b", {
    host: "10.0.0.7",
    port: 9031,
    module: "m",
    path: "a/b",
    trailingSlash: false,
  }],
  ["[::1]:9000:/m/", { host: "::1", port: 9000, module: "m", path: "", trailingSlash: true }],
  ["[::1]:/m/", { host: "::1", port: 9031, module: "m", path: "", trailingSlash: true }],
  ["[fe80::1%eth0]://x/", {
    host: "fe80::1%eth0",
    port: 9031,
    module: null,
    path: "x",
    trailingSlash: true,
  }],
  ["host.example.com:/m/a:b", {
    host: "host.example.com",
    port: 9031,
    module: "m",
    path: "a:b",
    trailingSlash: false,
  }],
];

const LOCAL_CASES: [string, boolean][] = [
  ["/abs/path", false],
  ["/abs/dir/", true],
  ["./rel", false],
  ["./host:/m/", true],
  ["../up/x", false],
  ["~/docs/", true],
  ["~user/docs", false],
  ["dst", false],
  ["dir/sub:name", false],
  [".", true],
  ["..", false],
  ["a/b/.", true],
];

const ERROR_CASES: [string, RegExp][] = [
  ["", /is empty/],
  ["nas:/photos", /module path must end with '\/'.*nas:\/photos\//],
  ["nas:/", /module name is empty/],
  ["nas:abc", /expected "\/" after "nas:"/],
  ["nas:9000", /expected "\/" after "nas:"/],
  ["nas:0:/m/", /port "0" is invalid/],
  ["nas:65536:/m/", /port "65536" is invalid/],
  ["nas:80a:/m/", /port "80a" is invalid/],
  ["nas:-1:/m/", /port "-1" is invalid/],
  ["nas::/m/", /port is empty/],
  ["nas::module", /port is empty.*rsync/],
  ["nas:9000:m/", /expected "\/" after the port/],
  [":/m/", /host is empty/],
  ["::1:/m/", /host is empty.*brackets/],
  ["user@nas:/m/", /host "user@nas" has invalid characters/],
  ["[::1:/m/", /unterminated '\['/],
  ["[]:/m/", /host is empty/],
  ["[::1]/m/", /expected ':' after "\[::1\]"/],
  ["[a b]:/m/", /is not an IPv6 address/],
  ["nas:/../x", /module name "\.\." is invalid/],
  ["nas:/./x", /module name "\." is invalid/],
  ["nas:/m o/x", /module name "m o" is invalid/],
  ["nas:/m/a/../b", /'\.\.' segment/],
  ["nas:/m/..", /'\.\.' segment/],
  ["nas://../etc", /'\.\.' segment/],
  ["nas:/m/a\0b", /NUL/],
  ["nas:/m/a\\b", /backslash/],
];

Deno.test("parseEndpoint()", async (t) => {
  await t.step("parses the remote forms", () => {
    for (const [text, want] of REMOTE_CASES) {
      assertEquals(parseEndpoint(text), { kind: "remote", ...want, text }, text);
    }
  });

  await t.step("classifies local paths and keeps them unchanged", () => {
    for (const [text, trailingSlash] of LOCAL_CASES) {
      assertEquals(parseEndpoint(text), { kind: "local", path: text, trailingSlash, text }, text);
    }
  });

  await t.step("rejects malformed endpoints with a one-line TypeError", () => {
    for (const [text, pattern] of ERROR_CASES) {
      assertThrows(() => parseEndpoint(text), (error: unknown) => {
        strictEqual(error instanceof TypeError, true, text);
        const message = (error as TypeError).message;
        strictEqual(message.startsWith("Cannot parse endpoint "), true, message);
        strictEqual(message.includes("\n"), false, message);
        strictEqual(pattern.test(message), true, `${text}: ${message}`);
        return true;
      });
    }
  });

  await t.step("uses DEFAULT_PORT 9031", () => {
    strictEqual(DEFAULT_PORT, 9031);
  });
});

Deno.test("isRemote()", async (t) => {
  await t.step("agrees with parseEndpoint on valid texts", () => {
    for (const [text] of REMOTE_CASES) strictEqual(isRemote(text), true, text);
    for (const [text] of LOCAL_CASES) strictEqual(isRemote(text), false, text);
  });

  await t.step("classifies malformed remote texts as remote without throwing", () => {
    for (const text of ["nas:/photos", "nas:abc", "[::1:/m/", "c:\\windows"]) {
      strictEqual(isRemote(text), true, text);
    }
    strictEqual(isRemote(""), false);
  });
});

Deno.test("formatEndpoint()", async (t) => {
  await t.step("writes canonical text", () => {
    const cases: [string, string][] = [
      ["nas:/photos/", "nas:/photos/"],
      ["nas:9031:/photos//a/./b", "nas:/photos/a/b"],
      ["nas:9000:/photos/a/", "nas:9000:/photos/a/"],
      ["nas:/photos/a/.", "nas:/photos/a/"],
      ["nas://", "nas://"],
      ["nas:///x//y/", "nas://x/y/"],
      ["[::1]:/m/", "[::1]:/m/"],
      ["[::1]:9000://x", "[::1]:9000://x"],
      ["./a/b/", "./a/b/"],
      ["dst", "dst"],
    ];
    for (const [text, want] of cases) strictEqual(formatEndpoint(parseEndpoint(text)), want, text);
  });

  await t.step("round-trips every parsed endpoint", () => {
    const texts = [...REMOTE_CASES.map(([text]) => text), ...LOCAL_CASES.map(([text]) => text)];
    for (const text of texts) {
      const first = parseEndpoint(text);
      const again: Endpoint = parseEndpoint(formatEndpoint(first));
      assertEquals({ ...again, text: "" }, { ...first, text: "" }, text);
    }
  });
});

Deno.test("absolutePath() normalises lexically", () => {
  strictEqual(absolutePath("/a//b/./c/../d/"), "/a/b/d");
  strictEqual(absolutePath("/"), "/");
});

Deno.test("placeSource() is rsync's destination rule", async (t) => {
  const missing = { exists: false, isDirectory: false, trailingSlash: false };
  const missingSlash = { ...missing, trailingSlash: true };
  const dir = { exists: true, isDirectory: true, trailingSlash: false };
  const file = { exists: true, isDirectory: false, trailingSlash: false };
  const dangling = file;
  const cases: [string, { kind: EntryKind; contentsOnly: boolean }, typeof missing, string][] = [
    ["dir onto missing lands inside it", { kind: "dir", contentsOnly: false }, missing, "into"],
    [
      "dir onto missing/ lands inside it",
      { kind: "dir", contentsOnly: false },
      missingSlash,
      "into",
    ],
    ["dir into an existing dir", { kind: "dir", contentsOnly: false }, dir, "into"],
    ["dir/ fills a missing dir", { kind: "dir", contentsOnly: true }, missing, "onto"],
    ["dir/ fills an existing dir", { kind: "dir", contentsOnly: true }, dir, "onto"],
    ["file onto missing is the target", { kind: "file", contentsOnly: false }, missing, "onto"],
    [
      "file onto missing/ lands inside",
      { kind: "file", contentsOnly: false },
      missingSlash,
      "into",
    ],
    ["file into an existing dir", { kind: "file", contentsOnly: false }, dir, "into"],
    ["file onto a file replaces it", { kind: "file", contentsOnly: false }, file, "onto"],
    ["link onto a dangling link", { kind: "symlink", contentsOnly: false }, dangling, "onto"],
    ["link into an existing dir", { kind: "symlink", contentsOnly: false }, dir, "into"],
  ];
  for (const [name, source, destination, expected] of cases) {
    await t.step(name, () => strictEqual(placeSource(source, destination), expected));
  }
  await t.step("a directory onto an existing non-directory is refused", () => {
    for (const contentsOnly of [false, true]) {
      assertThrows(
        () => placeSource({ kind: "dir", contentsOnly }, file, { source: "s", destination: "f" }),
        TransferRefusal,
      );
    }
    try {
      placeSource({ kind: "dir", contentsOnly: false }, file, { source: "s", destination: "f" });
    } catch (error) {
      strictEqual((error as TransferRefusal).reason, "destination-not-directory");
      strictEqual(
        (error as Error).message,
        'Cannot copy directory "s" onto "f": it exists and is not a directory; name a directory (or remove it first)',
      );
    }
  });
});

Deno.test("checkOverlap() refuses overlapping local roots", () => {
  const texts = { source: "a", destination: "b" };
  assertThrows(() => checkOverlap("copy", "dir", "/x/a", "/x/a", texts), TransferRefusal);
  assertThrows(() => checkOverlap("copy", "dir", "/x/a", "/x/a/b", texts), TransferRefusal);
  assertThrows(() => checkOverlap("mirror", "dir", "/x/a/b", "/x/a", texts), TransferRefusal);
  checkOverlap("copy", "dir", "/x/a/b", "/x/a", texts);
  checkOverlap("copy", "file", "/x/a", "/x/a.bak", texts);
  assertThrows(() => checkOverlap("copy", "file", "/x/a", "/x/a", texts), TransferRefusal);
});

Deno.test("parseHostAddress() shares the endpoint grammar's host and IPv6 rules", () => {
  assertEquals(parseHostAddress("nas:9000"), { host: "nas", port: 9000 });
  assertEquals(parseHostAddress("[fe80::1%eth0]"), { host: "fe80::1%eth0", port: DEFAULT_PORT });
  assertThrows(() => parseHostAddress("[nas]"), TypeError);
  assertThrows(() => parseEndpoint("[nas]:/m/"), TypeError);
  assertThrows(() => parseHostAddress("bad host"), TypeError);
  strictEqual(formatHostAddress({ host: "::1", port: 1 }), "[::1]:1");
});

Deno.test("lookupModule() finds modules and the default root", () => {
  const table = {
    root: "/srv/root",
    rootReadOnly: true,
    modules: [{ name: "m", path: "/srv/m", readOnly: false }],
  };
  strictEqual(lookupModule(table, "m").path, "/srv/m");
  strictEqual(lookupModule(table, "").label, "the default root");
  assertThrows(() => lookupModule(table, "x"), ModuleUnknownError);
  assertThrows(() => lookupModule({ ...table, root: null }, ""), ModuleUnknownError);
});
