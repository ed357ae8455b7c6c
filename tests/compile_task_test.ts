/**
 * `deno task compile` and `blitd compile-server`. `deno compile` cannot run here (its runtime,
 * `denort`, is not downloadable), so these check the exact command lines the real tasks print,
 * that every compiled program includes the worker modules its graph starts (deno compile only
 * bundles the static graph), and the compiled server's handoff: a `deno run` stand-in with the
 * baked argument is started by the real launcher, with the compiled launcher's permissions,
 * serves a real pull when its flags match the configuration, and is refused with one line and
 * exit 78 when they do not.
 */

import { deepStrictEqual as deepEqual, equal, match, ok } from "node:assert/strict";
import { decodeOutput, REPO, runBlit, taskChildEnv, testConfigHome } from "./_helpers.ts";
import { compiledFlags, WORKER_MODULES } from "../install/command_lines.ts";
import { readToolTasks } from "../install/tool_tasks.ts";
import { COMPILED_SERVER_ENTRY } from "../install/server_binary.ts";

const TASKS = readToolTasks(Deno.readTextFileSync(`${REPO}/deno.json`));
const COMPILE_OPTIONS =
  `--config ${REPO}/deno.json --lock ${REPO}/deno.lock --frozen --cached-only`;

/** Runs a command and returns its exit code and output. */
async function run(
  program: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(program, {
    args,
    cwd: options.cwd ?? REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: taskChildEnv({ NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...(options.env ?? {}) }),
  }).output();
  return decodeOutput(output);
}

/** The local modules an entry's module graph reaches (dynamic imports included). */
async function moduleGraph(entry: string): Promise<string[]> {
  const { code, stdout, stderr } = await run(Deno.execPath(), ["info", "--json", entry]);
  equal(code, 0, stderr);
  const info = JSON.parse(stdout) as { modules: { specifier: string }[] };
  const prefix = `file://${REPO}/`;
  return info.modules.map((m) => m.specifier).filter((s) => s.startsWith(prefix)).map((s) =>
    s.slice(prefix.length)
  );
}

/** Worker modules started by the modules of `graph` (`new Worker(new URL("./x.ts", …))`). */
function workersOf(graph: readonly string[]): string[] {
  const workers: string[] = [];
  for (const file of graph) {
    const text = Deno.readTextFileSync(`${REPO}/${file}`);
    for (const m of text.matchAll(/new Worker\(\s*new URL\("\.\/([^"]+)"/g)) {
      workers.push(`${file.slice(0, file.lastIndexOf("/"))}/${m[1]}`);
    }
  }
  return workers.toSorted();
}

/** The `--include` values of a command line. */
function includes(line: string): string[] {
  return [...line.matchAll(/--include (\S+)/g)].map((m) => (m[1] ?? "").slice(REPO.length + 1))
    .toSorted();
}

Deno.test("deno task compile builds all three with their tasks' flags into dist/", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blit-compile-" });
  try {
    const { code, stdout, stderr } = await run(
      Deno.execPath(),
      ["task", "-q", "--cwd", REPO, "compile", "--dry-run"],
      { cwd: dir },
    );
    equal(code, 0, stderr);
    const [blit, blitd, utils] = TASKS;
    const flags = (name: string): string =>
      compiledFlags(TASKS.find((t) => t.name === name) ?? TASKS[0]!).join(" ");
    deepEqual(stdout.trimEnd().split("\n"), [
      `deno compile ${COMPILE_OPTIONS} ${flags("blit")} ` +
      WORKER_MODULES.map((w) => `--include ${REPO}/${w}`).join(" ") +
      ` -o ${REPO}/dist/blit ${REPO}/${blit?.entry}`,
      `deno compile ${COMPILE_OPTIONS} ${
        flags("blitd")
      } -o ${REPO}/dist/blitd ${REPO}/${blitd?.entry}`,
      `deno compile ${COMPILE_OPTIONS} ${flags("blit-utils")} -o ${REPO}/dist/blit-utils ` +
      `${REPO}/${utils?.entry}`,
    ]);
    // The compiled launcher may also read BLITD_SERVER_BINARY and run blitd-server; the rest is
    // the blitd task's, flag for flag.
    match(stdout, /--allow-run=deno,bwrap,blitd-server --allow-env=\S*,BLITD_SERVER_BINARY /);
    // --out is the user's directory, relative to where the task was typed.
    const out = await run(
      Deno.execPath(),
      ["task", "-q", "--cwd", REPO, "compile", "--dry-run", "--out", "bin"],
      { cwd: dir },
    );
    ok(out.stdout.includes(` -o ${dir}/bin/blit-utils `), out.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every compiled program includes exactly the workers its module graph starts", async () => {
  const { stdout } = await run(Deno.execPath(), ["task", "-q", "compile", "--dry-run"]);
  const lines = stdout.trimEnd().split("\n");
  for (const [at, task] of TASKS.entries()) {
    deepEqual(includes(lines[at] ?? ""), workersOf(await moduleGraph(task.entry)), task.name);
  }
  const server = await compileServerDryRun(["--root", REPO, "--no-mdns"]);
  equal(server.code, 0, server.stderr);
  deepEqual(includes(server.stdout), workersOf(await moduleGraph(COMPILED_SERVER_ENTRY)));
});

/** `blitd compile-server --dry-run ARGS` through the real launcher, as the blitd task runs it. */
async function compileServerDryRun(
  args: string[],
  cwd: string = REPO,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const blitd = TASKS.find((t) => t.name === "blitd");
  return await run(
    Deno.execPath(),
    [
      "run",
      ...(blitd?.flags ?? []),
      `${REPO}/daemon/main.ts`,
      "compile-server",
      "--dry-run",
      ...args,
    ],
    { cwd },
  );
}

Deno.test("blitd compile-server prints deno compile with the configuration's sandbox", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blit-compile-server-" });
  try {
    await Deno.mkdir(`${dir}/pub`);
    await Deno.mkdir(`${dir}/inbox`);
    await Deno.writeTextFile(
      `${dir}/blitd.toml`,
      [
        "[daemon]",
        'bind = "127.0.0.1"',
        "port = 9100",
        "no_mdns = true",
        "[[module]]",
        'name = "pub"',
        `path = "${dir}/pub"`,
        "[[module]]",
        'name = "inbox"',
        `path = "${dir}/inbox"`,
        "anonymous_write = true",
      ].join("\n") + "\n",
    );
    const { code, stdout, stderr } = await compileServerDryRun(
      ["--config", "blitd.toml", "-o", "out/blitd-server"],
      dir,
    );
    equal(code, 0, stderr);
    const flags = [
      "--no-prompt",
      `--allow-read=${dir}/pub,${dir}/inbox`,
      `--allow-write=${dir}/inbox`,
      "--allow-net=127.0.0.1:9100,127.0.0.1:0",
      "--allow-env=GRPC_NODE_VERBOSITY,GRPC_VERBOSITY,GRPC_NODE_TRACE,GRPC_TRACE," +
      "GRPC_SSL_CIPHER_SUITES,GRPC_DEFAULT_SSL_ROOTS_FILE_PATH,GRPC_NODE_USE_ALTERNATIVE_RESOLVER," +
      "GRPC_NODE_DEBUG_SEND_ERROR_DETAILS,GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION",
      "--allow-sys=statfs",
    ];
    equal(
      stdout,
      `deno compile ${COMPILE_OPTIONS} ${flags.join(" ")} ` +
        WORKER_MODULES.map((w) => `--include ${REPO}/${w}`).join(" ") +
        ` -o ${dir}/out/blitd-server ${REPO}/${COMPILED_SERVER_ENTRY} ` +
        `'--compiled-permissions=${JSON.stringify(flags)}'\n`,
    );
    // A configuration that cannot work is one line, no stack.
    const missing = await compileServerDryRun(["--config", "nope.toml"], dir);
    equal(missing.code, 1);
    match(missing.stderr, /^blitd: .*nope\.toml[^\n]*\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Writes a `deno run` stand-in for a server compiled with `flags`, named blitd-server. */
async function writeStandIn(binDir: string, flags: readonly string[]): Promise<void> {
  const quote = (word: string): string => `'${word.replaceAll("'", `'\\''`)}'`;
  const words = [
    Deno.execPath(),
    "run",
    "--cached-only",
    // What deno compile embeds, the code, a compiled binary reads without a permission.
    ...flags.map((flag) => flag.startsWith("--allow-read=") ? `${flag},${REPO}` : flag),
    `${REPO}/${COMPILED_SERVER_ENTRY}`,
    `--compiled-permissions=${JSON.stringify(flags)}`,
  ];
  await Deno.mkdir(binDir, { recursive: true });
  await Deno.writeTextFile(
    `${binDir}/blitd-server`,
    `#!/bin/sh\nexec ${words.map(quote).join(" ")} "$@"\n`,
    { mode: 0o755 },
  );
}

/** The flags `blitd compile-server` would build the server with, read from its dry run. */
async function compiledServerFlags(config: string, cwd: string): Promise<string[]> {
  const { code, stdout, stderr } = await compileServerDryRun(["--config", config], cwd);
  equal(code, 0, stderr);
  const baked = stdout.trim().match(/'--compiled-permissions=(.*)'$/)?.[1] ?? "[]";
  return JSON.parse(baked) as string[];
}

/** Starts the launcher with the compiled blitd's permissions and BLITD_SERVER_BINARY. */
function startCompiledLauncher(dir: string, config: string): Deno.ChildProcess {
  const blitd = TASKS.find((t) => t.name === "blitd");
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...compiledFlags(blitd!), `${REPO}/daemon/main.ts`, "--config", config],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: {
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      BLITD_SERVER_BINARY: "blitd-server",
      PATH: `${dir}/bin:${Deno.env.get("PATH") ?? ""}`,
    },
  }).spawn();
}

function daemonConfig(dir: string, writable: boolean): string {
  return [
    "[daemon]",
    'bind = "127.0.0.1"',
    "port = 0",
    "no_mdns = true",
    "tls = false",
    'confinement = "none"',
    `state_dir = "${dir}/state"`,
    "[[module]]",
    'name = "pub"',
    `path = "${dir}/pub"`,
    ...(writable ? ["anonymous_write = true"] : []),
  ].join("\n") + "\n";
}

Deno.test("a compiled server built for this configuration serves; another one is refused", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "blit-compiled-server-" }));
  try {
    await Deno.mkdir(`${dir}/pub`);
    await Deno.writeTextFile(`${dir}/pub/hello.txt`, "hello from the compiled server\n");
    await Deno.writeTextFile(`${dir}/ro.toml`, daemonConfig(dir, false));
    await Deno.writeTextFile(`${dir}/rw.toml`, daemonConfig(dir, true));

    // Built for the read-only configuration, started with it: serves a real pull.
    await writeStandIn(`${dir}/bin`, await compiledServerFlags("ro.toml", dir));
    const launcher = startCompiledLauncher(dir, `${dir}/ro.toml`);
    const reader = launcher.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    let port = 0;
    const deadline = Date.now() + 30_000;
    while (port === 0 && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
      port = Number(out.match(/listening on 127\.0\.0\.1:(\d+)/)?.[1] ?? 0);
    }
    try {
      ok(port > 0, `the compiled server did not start: ${out}`);
      testConfigHome();
      const pulled = await runBlit(
        ["copy", "--no-tls", `127.0.0.1:${port}:/pub/hello.txt`, `${dir}/got.txt`],
      );
      equal(pulled.code, 0, pulled.stderr);
      equal(await Deno.readTextFile(`${dir}/got.txt`), "hello from the compiled server\n");
    } finally {
      launcher.kill("SIGTERM");
      await launcher.status;
      await reader.cancel();
      await launcher.stderr.cancel();
    }

    // The configuration now lets anyone write: the binary lacks that write permission.
    const refused = await new Promise<{ code: number; stderr: string }>((resolve) => {
      const child = startCompiledLauncher(dir, `${dir}/rw.toml`);
      child.output().then((o) =>
        resolve({ code: o.code, stderr: new TextDecoder().decode(o.stderr) })
      );
    });
    equal(refused.code, 78, refused.stderr);
    const lines = refused.stderr.split("\n").filter((line) => line.includes("Cannot"));
    deepEqual(lines.length, 1, refused.stderr);
    match(
      lines[0] ?? "",
      new RegExp(
        `^blitd: Cannot start the compiled server: it was compiled for the permissions of ` +
          `another configuration \\(it lacks --allow-write=${dir}/pub\\); build it again`,
      ),
    );
    ok(!refused.stderr.includes("    at "), refused.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a compiled blitd refuses a server binary it may not run, in one line", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "blit-compiled-server-" }));
  try {
    await Deno.mkdir(`${dir}/pub`);
    await Deno.writeTextFile(`${dir}/ro.toml`, daemonConfig(dir, false));
    await writeStandIn(`${dir}/elsewhere`, []);
    await Deno.rename(`${dir}/elsewhere/blitd-server`, `${dir}/elsewhere/server`);
    const blitd = TASKS.find((t) => t.name === "blitd");
    const { code, stderr } = await run(
      Deno.execPath(),
      ["run", ...compiledFlags(blitd!), `${REPO}/daemon/main.ts`, "--config", `${dir}/ro.toml`],
      { cwd: dir, env: { BLITD_SERVER_BINARY: `${dir}/elsewhere/server` } },
    );
    equal(code, 1, stderr);
    // Deno itself says once that blitd-server is not on PATH ("Info Failed to resolve …").
    const ours = stderr.trimEnd().split("\n").filter((line) => line.startsWith("blitd:"));
    deepEqual(ours.length, 1, stderr);
    match(
      ours[0] ?? "",
      /^blitd: Cannot run the compiled server .*as blitd-server in a directory on PATH$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
