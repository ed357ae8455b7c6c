import {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
  strictEqual,
  throws as assertThrows,
} from "node:assert/strict";
import {
  applyDaemonOverrides,
  type DaemonConfig,
  isBindAddress,
  loadDaemonConfig,
  parseDaemonConfig,
  resolveDaemonPaths,
  validateExports,
} from "../core/config.ts";

const SOURCE = "/etc/blit/blitd.toml";
const OPTIONS = { baseDir: "/etc/blit", source: SOURCE };

/** Asserts that `fn` throws `type` with a one-line message matching `pattern`. */
function assertOneLineError(
  fn: () => unknown,
  type: new (...args: never[]) => Error,
  pattern: RegExp,
): void {
  assertThrows(fn, (error: unknown) => {
    strictEqual(error instanceof type, true, `expected ${type.name}, got ${String(error)}`);
    const message = (error as Error).message;
    strictEqual(message.includes("\n"), false, message);
    strictEqual(pattern.test(message), true, message);
    return true;
  });
}

Deno.test("parseDaemonConfig()", async (t) => {
  await t.step("fills in defaults for an empty file", () => {
    assertEquals(parseDaemonConfig("", OPTIONS), {
      bind: "0.0.0.0",
      port: 9031,
      motd: "",
      noMdns: false,
      mdnsName: null,
      root: null,
      rootReadOnly: false,
      modules: [],
      forceGrpcData: false,
      source: SOURCE,
    });
    strictEqual(parseDaemonConfig("").source, null);
  });

  await t.step("reads every key", () => {
    const text = `
[daemon]
bind = "::"
port = 9100
motd = "hello"
no_mdns = true
mdns_name = "nas"
root = "/srv/share"
root_read_only = true

[[module]]
name = "photos"
path = "/srv/photos/"
read_only = true
comment = "family"

[[module]]
name = "in.box_2-x"
path = "incoming/./new"
`;
    assertEquals(parseDaemonConfig(text, OPTIONS), {
      bind: "::",
      port: 9100,
      motd: "hello",
      noMdns: true,
      mdnsName: "nas",
      root: "/srv/share",
      rootReadOnly: true,
      modules: [
        { name: "photos", path: "/srv/photos", readOnly: true, comment: "family" },
        { name: "in.box_2-x", path: "/etc/blit/incoming/new", readOnly: false, comment: "" },
      ],
      forceGrpcData: false,
      source: SOURCE,
    });
  });

  await t.step("resolves relative paths against baseDir", () => {
    const config = parseDaemonConfig('[daemon]\nroot = "../share"\n', { baseDir: "/etc/blit" });
    strictEqual(config.root, "/etc/share");
  });

  await t.step("turns TOML syntax errors into one line with the position", () => {
    assertOneLineError(
      () => parseDaemonConfig('[daemon]\nport = = 3\nbind = "x"\n', OPTIONS),
      SyntaxError,
      /^Cannot load config "\/etc\/blit\/blitd\.toml": invalid TOML at line 2, column \d+: .+, fix the TOML syntax$/,
    );
    assertOneLineError(
      () => parseDaemonConfig("[daemon]\nbind = 'a'\nbind = 'b'\n", OPTIONS),
      SyntaxError,
      /line 3/,
    );
  });

  await t.step("rejects invalid content with a message naming the key and the file", () => {
    const cases: [string, RegExp][] = [
      ["[daemon]\nprot = 1\n", /unknown key "daemon\.prot", remove it or use one of: bind, port/],
      ["[deamon]\n", /unknown key "deamon", remove it or use one of: daemon, module/],
      [
        "[[module]]\nname = 'a'\npath = '/a'\nreadonly = true\n",
        /unknown key "readonly" in module #1/,
      ],
      ["daemon = 3\n", /"daemon" must be a table/],
      ["[module]\nname = 'a'\n", /"module" must be an array of tables, write each module as/],
      [
        "[daemon]\nport = '9031'\n",
        /"daemon\.port" must be an integer from 0 to 65535, not a string/,
      ],
      ["[daemon]\nport = 70000\n", /"daemon\.port" must be an integer .* not 70000/],
      ["[daemon]\nport = -1\n", /not -1/],
      ["[daemon]\nport = 1.5\n", /not 1\.5/],
      ["[daemon]\nbind = 1\n", /"daemon\.bind" must be a string, not an integer/],
      ["[daemon]\nbind = 'nas.local'\n", /"daemon\.bind" value "nas\.local" is not an IP address/],
      ["[daemon]\nno_mdns = 'yes'\n", /"daemon\.no_mdns" must be a boolean, not a string/],
      ["[daemon]\nmdns_name = ''\n", /must be 1 to 63 bytes long/],
      ["[daemon]\nroot = ''\n", /"daemon\.root" is empty/],
      ["[daemon]\nroot = '~/share'\n", /starts with "~".*not expanded/],
      ["[daemon]\nroot_read_only = 1\n", /"daemon\.root_read_only" must be a boolean/],
      ["[[module]]\npath = '/a'\n", /module #1 has no name/],
      ["[[module]]\nname = ''\npath = '/a'\n", /module #1 has no name/],
      ["[[module]]\nname = 'a b'\npath = '/a'\n", /module #1 name "a b" is invalid/],
      ["[[module]]\nname = '..'\npath = '/a'\n", /module #1 name "\.\." is invalid/],
      ["[[module]]\nname = 'a'\n", /module "a" has no path/],
      ["[[module]]\nname = 'a'\npath = 3\n", /module "a" key "path" must be a string/],
      ["[[module]]\nname = 'a'\npath = '/a'\nread_only = 'no'\n", /"read_only" must be a boolean/],
      [
        "[[module]]\nname = 'a'\npath = '/a'\n[[module]]\nname = 'a'\npath = '/b'\n",
        /module name "a" is used twice/,
      ],
      ["__proto__ = 1\n", /invalid TOML|unknown key/],
    ];
    for (const [text, pattern] of cases) {
      assertThrows(() => parseDaemonConfig(text, OPTIONS), (error: unknown) => {
        strictEqual(error instanceof Error, true);
        const message = (error as Error).message;
        strictEqual(message.startsWith(`Cannot load config "${SOURCE}": `), true, message);
        strictEqual(message.includes("\n"), false, message);
        strictEqual(pattern.test(message), true, `${JSON.stringify(text)}: ${message}`);
        return true;
      });
    }
  });
});

Deno.test("isBindAddress()", async (t) => {
  await t.step("accepts IP literals and localhost", () => {
    for (
      const text of ["0.0.0.0", "127.0.0.1", "255.255.255.255", "::", "::1", "fe80::1", "localhost"]
    ) {
      strictEqual(isBindAddress(text), true, text);
    }
  });
  await t.step("rejects host names and malformed addresses", () => {
    for (const text of ["", "nas", "256.0.0.1", "1.2.3", "[::1]", ":::1:::", "1.2.3.4:80", "a,b"]) {
      strictEqual(isBindAddress(text), false, text);
    }
  });
});

Deno.test("applyDaemonOverrides()", async (t) => {
  const base = parseDaemonConfig(
    "[daemon]\nport = 9100\nmdns_name = 'file'\n[[module]]\nname = 'm'\npath = '/m'\n",
    OPTIONS,
  );

  await t.step("lets flags win over the file", () => {
    const config = applyDaemonOverrides(base, {
      bind: "127.0.0.1",
      port: 0,
      root: "/srv/x/../share",
      noMdns: true,
      mdnsName: "flag",
      forceGrpcData: true,
    });
    assertEquals(
      { ...config, modules: base.modules },
      {
        ...base,
        bind: "127.0.0.1",
        port: 0,
        root: "/srv/share",
        noMdns: true,
        mdnsName: "flag",
        forceGrpcData: true,
      },
    );
    strictEqual(base.port, 9100, "the input is not modified");
  });

  await t.step("keeps file values for absent flags", () => {
    assertEquals(applyDaemonOverrides(base, {}), base);
  });

  await t.step("makes a relative root absolute against the current directory", () => {
    strictEqual(applyDaemonOverrides(base, { root: "share" }).root, `${Deno.cwd()}/share`);
  });

  await t.step("rejects invalid flag values", () => {
    assertOneLineError(
      () => applyDaemonOverrides(base, { port: 65536 }),
      TypeError,
      /--port 65536/,
    );
    assertOneLineError(
      () => applyDaemonOverrides(base, { bind: "nas" }),
      TypeError,
      /--bind "nas"/,
    );
    assertOneLineError(() => applyDaemonOverrides(base, { root: "" }), TypeError, /--root ""/);
    assertOneLineError(
      () => applyDaemonOverrides(base, { mdnsName: "x".repeat(64) }),
      TypeError,
      /--mdns-name/,
    );
  });
});

Deno.test("validateExports()", async (t) => {
  await t.step("rejects a daemon that exports nothing", () => {
    assertOneLineError(
      () => validateExports(parseDaemonConfig("")),
      TypeError,
      /^Cannot start: no modules configured and no root; add a \[\[module\]\] or pass --root PATH$/,
    );
  });
  await t.step("accepts a root alone or modules alone", () => {
    validateExports(applyDaemonOverrides(parseDaemonConfig(""), { root: "/srv" }));
    validateExports(parseDaemonConfig("[[module]]\nname = 'm'\npath = '/m'\n"));
  });
});

Deno.test("loadDaemonConfig()", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "blit-" });
  try {
    const real = await Deno.realPath(dir);
    await Deno.mkdir(`${dir}/photos`);
    await Deno.mkdir(`${dir}/share`);
    await Deno.writeTextFile(`${dir}/file.txt`, "x");
    await Deno.symlink(`${dir}/photos`, `${dir}/link`);

    await t.step("reads the file and resolves paths relative to it", async () => {
      const path = `${dir}/blitd.toml`;
      await Deno.writeTextFile(
        path,
        "[daemon]\nroot = 'share'\n[[module]]\nname = 'p'\npath = 'link'\nread_only = true\n",
      );
      const config: DaemonConfig = await loadDaemonConfig(path);
      strictEqual(config.root, `${real}/share`);
      assertEquals(config.modules, [
        { name: "p", path: `${real}/photos`, readOnly: true, comment: "" },
      ]);
      strictEqual(config.source, path);
    });

    await t.step("reports a missing file clearly", async () => {
      await assertRejects(loadDaemonConfig(`${dir}/nope.toml`), (error: unknown) => {
        strictEqual(error instanceof Deno.errors.NotFound, true);
        strictEqual(
          (error as Error).message,
          `Cannot load config "${dir}/nope.toml": the file does not exist, create it or pass the right path`,
        );
        return true;
      });
    });

    await t.step("rejects a module path that is missing or not a directory", async () => {
      const path = `${dir}/bad.toml`;
      await Deno.writeTextFile(path, "[[module]]\nname = 'm'\npath = 'missing'\n");
      await assertRejects(loadDaemonConfig(path), (error: unknown) => {
        strictEqual(error instanceof Deno.errors.NotFound, true);
        strictEqual(
          (error as Error).message,
          `Cannot load config "${path}": module "m" path "${dir}/missing" does not exist, ` +
            "create the directory or fix the path",
        );
        return true;
      });
      await Deno.writeTextFile(path, "[daemon]\nroot = 'file.txt'\n");
      await assertRejects(loadDaemonConfig(path), (error: unknown) => {
        strictEqual(error instanceof Deno.errors.NotADirectory, true);
        strictEqual(/root ".*file\.txt" is not a directory/.test((error as Error).message), true);
        return true;
      });
    });

    await t.step("resolveDaemonPaths() resolves a root given by flag", async () => {
      const config = await resolveDaemonPaths(
        applyDaemonOverrides(parseDaemonConfig(""), { root: `${dir}/link` }),
      );
      strictEqual(config.root, `${real}/photos`);
      await assertRejects(
        resolveDaemonPaths(applyDaemonOverrides(parseDaemonConfig(""), { root: `${dir}/nope` })),
        /^NotFound: Cannot start: root ".*nope" does not exist/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
