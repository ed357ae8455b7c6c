import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { daemonAllowsStatfs, startDaemon, type TestDaemon } from "./_daemon.ts";
import {
  makeTree,
  REPO,
  runBlit,
  type RunResult,
  runUtils,
  testConfigHome,
  utilsTaskFlags,
  withTempDir,
} from "./_helpers.ts";

/** Asserts a refusal: exit 1 and exactly one `blit-utils: Cannot ...` line on stderr. */
function assertRefused(result: RunResult, pattern: RegExp): void {
  assertEquals(result.code, 1, `expected exit 1:\n${result.stdout}\n${result.stderr}`);
  const lines = result.stderr.trim().split("\n");
  assertEquals(lines.length, 1, result.stderr);
  match(lines[0] ?? "", /^blit(-utils)?: Cannot /);
  match(result.stderr, pattern);
}

function jsonLines(text: string): unknown[] {
  return text.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

Deno.test("blit-utils and blit list against a real daemon", async (t) => {
  await withTempDir(async (dir) => {
    await makeTree(dir, {
      "m/a.txt": "hi",
      "m/sub/B.TXT": "hello",
      "m/sub/deep/c.txt": "x",
      "m/esc": { link: `${dir}/outside` },
      "m/junk/j1.txt": "1",
      "m/junk/j2/j3.txt": "3",
      "m/ask/f.txt": "f",
      "outside/secret.txt": "secret",
      "ro/keep.txt": "keep",
    });
    const daemon: TestDaemon = await startDaemon(dir, [
      { name: "m", path: `${dir}/m` },
      { name: "ro", path: `${dir}/ro`, readOnly: true },
    ]);
    const host = daemon.address;
    try {
      await t.step("list HOST prints the modules (text and JSON)", async () => {
        const text = await runUtils(["list", host]);
        assertEquals(text.code, 0, text.stderr);
        const [first, ...rest] = text.stdout.trim().split("\n");
        match(first ?? "", /^certificate SHA256:[A-Za-z0-9+/]{43}$/);
        assertEquals(rest.map((l) => l.split(/\s+/)), [
          ["m", "rw"],
          ["ro", "ro"],
        ]);
        const json = await runUtils(["list", host, "--json"]);
        assertEquals(JSON.parse(json.stdout), {
          host: "127.0.0.1",
          port: daemon.port,
          fingerprint: first?.split(" ")[1],
          motd: null,
          modules: [
            { name: "m", read_only: false, comment: "" },
            { name: "ro", read_only: true, comment: "" },
          ],
        });
      });

      await t.step("blit list HOST and blit list HOST:/module/path", async () => {
        const modules = await runBlit(["list", host, "--json"]);
        assertEquals(modules.code, 0, modules.stderr);
        assertEquals(
          (JSON.parse(modules.stdout) as { modules: { name: string }[] }).modules.map((m) =>
            m.name
          ),
          ["m", "ro"],
        );
        const entries = await runBlit(["list", `${host}:/m/sub`]);
        assertEquals(entries.code, 0, entries.stderr);
        match(entries.stdout, /^-rw.* B\.TXT$/m);
        match(entries.stdout, /^drwx.* deep\/$/m);
        const json = await runBlit(["list", `${host}:/m/`, "--json"]);
        const listing = JSON.parse(json.stdout) as { entries: { name: string }[] };
        assertEquals(listing.entries.map((e) => e.name), ["a.txt", "ask", "esc", "junk", "sub"]);
        assertRefused(await runBlit(["list", `${host}:/nope/`]), /permission denied/);
        assertRefused(await runBlit(["list"]), /expected HOST/);
      });

      await t.step("ls TARGET lists one directory, remote or local", async () => {
        const remote = await runUtils(["ls", `${host}:/m/`]);
        assertEquals(remote.code, 0, remote.stderr);
        const lines = remote.stdout.trim().split("\n");
        assertEquals(lines.length, 5);
        match(lines[0] ?? "", /^-rw-r--r--\s+2 B\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+a\.txt$/);
        match(lines[2] ?? "", new RegExp(`^lrwx.* esc -> ${dir}/outside$`));
        const json = await runUtils(["ls", `${host}:/m/sub`, "--json"]);
        const listing = JSON.parse(json.stdout) as {
          target: string;
          entries: Record<string, unknown>[];
          truncated: boolean;
        };
        assertEquals(listing.target, `${host}:/m/sub`);
        assertEquals(listing.truncated, false);
        assertEquals(listing.entries.map((e) => Object.keys(e).sort()), [
          ["mode", "mtime", "name", "size", "type"],
          ["mode", "mtime", "name", "size", "type"],
        ]);
        assertEquals(listing.entries.map((e) => [e.name, e.type, e.size]), [
          ["B.TXT", "file", 5],
          ["deep", "dir", 0],
        ]);
        const local = await runUtils(["ls", `${dir}/m/sub`, "--json"]);
        assertEquals(
          (JSON.parse(local.stdout) as { entries: { name: string }[] }).entries.map((e) => e.name),
          ["B.TXT", "deep"],
        );
        const localFile = await runUtils(["ls", `${dir}/m/a.txt`]);
        match(localFile.stdout, /\s+a\.txt\n$/);
        assertRefused(await runUtils(["ls", `${dir}/missing`]), /does not exist/);
      });

      await t.step("ls refuses escapes, bad paths and unknown modules", async () => {
        assertRefused(
          await runUtils(["ls", `${host}:/m/esc/secret.txt`]),
          /leaves the module/,
        );
        assertRefused(await runUtils(["ls", `${host}:/m/../ro/`]), /'\.\.'/);
        assertRefused(await runUtils(["ls", `${host}:/nope/`]), /permission denied/);
        assertRefused(await runUtils(["ls", `${host}:/m/missing`]), /does not exist/);
      });

      await t.step("find streams matches, with kinds, case and limit", async () => {
        const all = await runUtils(["find", `${host}:/m/`]);
        assertEquals(all.code, 0, all.stderr);
        assertEquals(all.stdout.trim().split("\n"), [
          "a.txt",
          "ask/",
          "ask/f.txt",
          "esc",
          "junk/",
          "junk/j1.txt",
          "junk/j2/",
          "junk/j2/j3.txt",
          "sub/",
          "sub/B.TXT",
          "sub/deep/",
          "sub/deep/c.txt",
        ]);
        const txt = await runUtils(["find", `${host}:/m/sub`, "--pattern", "*.txt", "--json"]);
        assertEquals(jsonLines(txt.stdout).map((e) => Object.keys(e as object).sort()), [
          ["mtime", "path", "size", "type"],
        ]);
        assertEquals(
          jsonLines(txt.stdout).map((e) => (e as { path: string }).path),
          ["sub/deep/c.txt"],
        );
        const nocase = await runUtils([
          "find",
          `${host}:/m/sub`,
          "--pattern",
          "*.txt",
          "--case-insensitive",
          "--files",
        ]);
        assertEquals(nocase.stdout.trim().split("\n"), ["sub/B.TXT", "sub/deep/c.txt"]);
        const dirs = await runUtils(["find", `${host}:/m/`, "--dirs"]);
        assertEquals(dirs.stdout.trim().split("\n"), [
          "ask/",
          "junk/",
          "junk/j2/",
          "sub/",
          "sub/deep/",
        ]);
        const limited = await runUtils(["find", `${host}:/m/`, "--limit", "2"]);
        assertEquals(limited.code, 0);
        assertEquals(limited.stdout.trim().split("\n").length, 2);
        match(limited.stderr, /stopped after 2 results/);
        const local = await runUtils(["find", `${dir}/m`, "--pattern", "j*", "--files"]);
        assertEquals(local.stdout.trim().split("\n"), ["junk/j1.txt", "junk/j2/j3.txt"]);
        assertRefused(await runUtils(["find", `${host}:/m/`, "--files", "--dirs"]), /--files/);
        assertRefused(await runUtils(["find", `${host}:/m/esc`]), /leaves the module/);
        assertRefused(await runUtils(["find", `${host}:/m/`, "--limit", "x"]), /--limit/);
      });

      await t.step("du streams per-directory totals, deepest first", async () => {
        const text = await runUtils(["du", `${host}:/m/`, "--max-depth", "1"]);
        assertEquals(text.code, 0, text.stderr);
        const paths = text.stdout.trim().split("\n").map((l) => l.split(/\s+/).at(-1));
        assertEquals(paths, ["ask", "junk", "sub", "."]);
        const json = await runUtils(["du", `${host}:/m/sub`, "--max-depth", "3", "--json"]);
        assertEquals(jsonLines(json.stdout), [
          { path: "sub/deep", depth: 1, bytes: 1, files: 1, dirs: 0, errors: 0 },
          { path: "sub", depth: 0, bytes: 6, files: 2, dirs: 1, errors: 0 },
        ]);
        const local = await runUtils(["du", `${dir}/m/sub`, "--json"]);
        assertEquals(jsonLines(local.stdout), [
          { path: "", depth: 0, bytes: 6, files: 2, dirs: 1, errors: 0 },
        ]);
        assertRefused(await runUtils(["du", `${host}:/m/`, "--max-depth", "-1"]), /max-depth/);
      });

      await t.step("df reports the module's filesystem", async () => {
        const result = await runUtils(["df", `${host}:/m/`, "--json"]);
        if (!daemonAllowsStatfs()) {
          assertRefused(result, /--allow-sys=statfs/);
          console.log("  (the daemon sandbox lacks --allow-sys=statfs: df refuses cleanly)");
        } else {
          assertEquals(result.code, 0, result.stderr);
          const space = JSON.parse(result.stdout) as Record<string, unknown>;
          assertEquals(Object.keys(space).sort(), [
            "free_bytes",
            "module",
            "target",
            "total_bytes",
            "used_bytes",
          ]);
          assert((space.total_bytes as number) > 0);
          const text = await runUtils(["df", `${host}:/m/`]);
          match(text.stdout, /total .* used .* free /);
        }
        assertRefused(await runUtils(["df", `${dir}/m`]), /local path/);
      });

      await t.step("rm refuses read-only modules, the root, escapes and no consent", async () => {
        assertRefused(await runUtils(["rm", `${host}:/ro/keep.txt`, "--yes"]), /read-only/);
        assertRefused(await runUtils(["rm", `${host}:/m/`, "--yes"]), /root/);
        assertRefused(await runUtils(["rm", `${host}:/m/esc/secret.txt`, "--yes"]), /leaves/);
        assertRefused(await runUtils(["rm", `${host}:/m/../ro/keep.txt`, "--yes"]), /'\.\.'/);
        assertRefused(await runUtils(["rm", `${host}:/nope/x`, "--yes"]), /permission denied/);
        assertRefused(await runUtils(["rm", `${host}:/m/junk`]), /pass --yes/);
        assertEquals(await Deno.readTextFile(`${dir}/ro/keep.txt`), "keep");
        assertEquals(await Deno.readTextFile(`${dir}/outside/secret.txt`), "secret");
        assert((await Deno.stat(`${dir}/m/junk/j2/j3.txt`)).isFile);
      });

      await t.step("rm asks on a terminal", async () => {
        const found = await new Deno.Command("sh", {
          args: ["-c", "command -v script"],
          stdout: "null",
        }).output();
        if (!found.success) {
          console.log("  (script(1) is not installed: terminal prompt not tested)");
          return;
        }
        const command = [Deno.execPath(), "run", ...utilsTaskFlags(), `${REPO}/utils/main.ts`]
          .concat(["rm", `${host}:/m/ask`]).map((w) => `'${w}'`).join(" ");
        const answer = async (reply: string): Promise<string> => {
          const { stdout } = await new Deno.Command("bash", {
            args: ["-c", `printf '${reply}\\n' | script -qec "$0" /dev/null`, command],
            stdout: "piped",
            stderr: "piped",
            env: { NO_COLOR: "1", XDG_CONFIG_HOME: testConfigHome() },
          }).output();
          return new TextDecoder().decode(stdout);
        };
        const declined = await answer("n");
        match(declined, /Remove ".*:\/m\/ask" \(2 entries\)\? \[y\/N\]/);
        match(declined, /nothing removed/);
        assert((await Deno.stat(`${dir}/m/ask/f.txt`)).isFile);
        match(await answer("y"), /removed 2 entries/);
        assertEquals(await Deno.lstat(`${dir}/m/ask`).then(() => true, () => false), false);
      });

      await t.step("rm counts with --dry-run and reports what it removed", async () => {
        const dry = await runUtils(["rm", `${host}:/m/junk`, "--dry-run", "--json"]);
        assertEquals(JSON.parse(dry.stdout), {
          target: `${host}:/m/junk`,
          removed: 4,
          dry_run: true,
        });
        assert((await Deno.stat(`${dir}/m/junk/j1.txt`)).isFile);
        const done = await runUtils(["rm", `${host}:/m/junk`, "--yes", "--json"]);
        assertEquals(done.code, 0, done.stderr);
        assertEquals(JSON.parse(done.stdout), {
          target: `${host}:/m/junk`,
          removed: 4,
          dry_run: false,
        });
        const gone = await Deno.lstat(`${dir}/m/junk`).then(() => false, () => true);
        assert(gone);
        const link = await runUtils(["rm", `${host}:/m/esc`, "--yes"]);
        assertEquals(link.stdout, `removed 1 entry: ${host}:/m/esc\n`);
        assertEquals(await Deno.readTextFile(`${dir}/outside/secret.txt`), "secret");
      });

      await t.step("the daemon survived every verb", () => {
        assert(daemon.running(), daemon.log());
      });
    } finally {
      await daemon.stop();
    }
  });
});

Deno.test("blit-utils without a daemon", async (t) => {
  await t.step("an unreachable daemon is one clear line", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const refused = (at: number) =>
      `blit-utils: Cannot connect to blitd at 127.0.0.1:${at}: connection refused; is the daemon running?\n`;
    // Unknown to the client: its certificate probe is refused.
    const unknown = await runUtils(["list", `127.0.0.1:${port}`]);
    assertEquals([unknown.code, unknown.stderr], [1, refused(port)]);
    // Known but gone: the pinned gRPC connection is refused, in the same words.
    await withTempDir(async (dir) => {
      await Deno.mkdir(`${dir}/module`);
      const gone = await startDaemon(dir, [{ name: "m", path: `${dir}/module` }]);
      await gone.stop();
      const known = await runUtils(["list", `127.0.0.1:${gone.port}`]);
      assertEquals([known.code, known.stderr], [1, refused(gone.port)]);
    });
    assertRefused(await runUtils(["list", "bad host"]), /invalid characters/);
  });

  await t.step("help, version and bad verbs", async () => {
    const help = await runUtils(["--help"]);
    assertEquals(help.code, 0);
    for (const verb of ["scan", "list", "ls", "find", "du", "df", "rm", "completions", "profile"]) {
      match(help.stdout, new RegExp(`blit-utils ${verb}\\b`));
    }
    const findHelp = await runUtils(["find", "--help"]);
    match(findHelp.stdout, /--case-insensitive/);
    assertRefused(await runUtils(["frobnicate"]), /unknown verb "frobnicate"/);
    assertRefused(await runUtils([]), /without a verb/);
    assertRefused(await runUtils(["ls", "--bogus", "x"]), /unknown option "--bogus"/);
    assertRefused(await runUtils(["completions", "tcsh"]), /bash, zsh or fish/);
  });

  await t.step("completions prints a script for each shell", async () => {
    for (const shell of ["bash", "zsh", "fish"]) {
      const result = await runUtils(["completions", shell]);
      assertEquals(result.code, 0, result.stderr);
      match(result.stdout, /blit-utils/);
      match(result.stdout, /__complete/);
    }
  });

  await t.step("profile shows the local performance history", async () => {
    await withTempDir(async (home) => {
      await Deno.mkdir(`${home}/blit`);
      const record = (n: number) => ({
        at: `2026-01-0${n}T00:00:00.000Z`,
        operation: "copy",
        transport: "local",
        files: n,
        files_transferred: n,
        bytes: 1024 * n,
        duration_ms: 100,
        strategy: { workers: 0 },
        outcome: "transferred",
      });
      await Deno.writeTextFile(
        `${home}/blit/perf_history.jsonl`,
        [1, 2, 3].map((n) => JSON.stringify(record(n))).join("\n") + "\n",
      );
      const env = { XDG_CONFIG_HOME: home };
      const json = await runUtils(["profile", "--json", "--limit", "2"], { env });
      assertEquals(json.code, 0, json.stderr);
      assertEquals(JSON.parse(json.stdout), [record(2), record(3)]);
      const text = await runUtils(["profile"], { env });
      assertEquals(text.stdout.trim().split("\n").length, 4); // header + 3 records
      const blit = await runBlit(["diagnostics", "perf", "--json"], { env });
      assertEquals(JSON.parse(blit.stdout), [record(1), record(2), record(3)]);
      assertRefused(await runUtils(["profile", "--limit", "0"], { env }), /--limit/);
    });
  });
});

Deno.test("every numeric flag of blit-utils and blit is range-checked (issue #11)", async (t) => {
  await withTempDir(async (dir) => {
    await makeTree(dir, { "a/x.txt": "x" });
    const a = `${dir}/a`;
    const b = `${dir}/b`;
    const cases: [string, string[], RegExp][] = [
      [
        "utils",
        ["find", a, "--limit", "99999999999"],
        /^blit-utils: Cannot use --limit "99999999999": give a whole number from 1 to 1000000\n/,
      ],
      [
        "utils",
        ["find", a, "--limit", "-3"],
        /Cannot use --limit "-3": give a whole number from 1 to/,
      ],
      ["utils", ["find", a, "--limit", "1e3"], /Cannot use --limit "1e3"/],
      [
        "utils",
        ["du", a, "--max-depth", "-5"],
        /^blit-utils: Cannot use --max-depth "-5": give a whole number from 0 to 4096\n/,
      ],
      [
        "utils",
        ["du", a, "--max-depth", "99999999999"],
        /--max-depth "99999999999": give a whole number from 0 to 4096/,
      ],
      [
        "utils",
        ["profile", "--limit", "5000"],
        /Cannot use --limit "5000": give a whole number from 1 to 1000/,
      ],
      [
        "utils",
        ["profile", "--limit", "-1"],
        /Cannot use --limit "-1": give a whole number from 1 to 1000/,
      ],
      [
        "utils",
        ["scan", "--wait", "-1"],
        /Cannot use --wait "-1": give a number of seconds above 0/,
      ],
      ["utils", ["scan", "--wait", "1e9"], /Cannot use --wait "1e9"/],
      [
        "blit",
        ["copy", a, b, "--workers", "-1"],
        /^blit: Cannot use --workers "-1": give a whole number from 0 to 64\n/,
      ],
      [
        "blit",
        ["copy", a, b, "--workers", "1e1"],
        /Cannot use --workers "1e1": give a whole number from 0 to 64/,
      ],
      [
        "blit",
        ["mirror", a, b, "--max-delete", "-1"],
        /Cannot use --max-delete "-1": give a whole number from 0 to/,
      ],
      [
        "blit",
        ["mirror", a, b, "--max-delete", "99999999999999999999"],
        /--max-delete "9+": give a whole number/,
      ],
      [
        "blit",
        ["diagnostics", "perf", "--limit", "99999999999"],
        /Cannot use --limit "99999999999": give a whole number from 1 to 1000/,
      ],
      [
        "blit",
        ["scan", "--wait", "-2"],
        /Cannot use --wait "-2": give a number of seconds above 0/,
      ],
      [
        "blit",
        ["copy", a, b, "--exclude", "-x"],
        /Cannot use --exclude "-x": a value that starts with "-" must be attached, as --exclude=-x/,
      ],
    ];
    for (const [program, args, pattern] of cases) {
      await t.step(`${program} ${args.join(" ").replaceAll(dir, "DIR")}`, async () => {
        const result = program === "utils" ? await runUtils(args) : await runBlit(args);
        assertRefused(result, pattern);
      });
    }
    assertEquals((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["a"]);
  });
});
