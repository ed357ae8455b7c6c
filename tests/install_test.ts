/**
 * `deno task install` / `uninstall` (the exact command lines, and a real install into a
 * temporary root whose programs then run offline), and relative paths under `deno task`: the
 * tasks pass the directory the command was typed in (`BLIT_CWD="$INIT_CWD"`), so paths are the
 * user's, not the checkout's.
 */

import { deepStrictEqual as deepEqual, equal, match, ok } from "node:assert/strict";
import { decodeOutput, REPO, taskChildEnv, testConfigHome } from "./_helpers.ts";
import { readToolTasks } from "../install/tool_tasks.ts";

const TASKS = readToolTasks(Deno.readTextFileSync(`${REPO}/deno.json`));

/** Runs a command and returns its exit code and output. */
async function run(
  program: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(program, {
    args,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: taskChildEnv({
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      XDG_CONFIG_HOME: testConfigHome(),
      ...(options.env ?? {}),
    }),
  }).output();
  return decodeOutput(output);
}

/** `deno task --cwd REPO NAME ARGS`, typed in `cwd`. */
async function task(
  cwd: string,
  name: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return await run(Deno.execPath(), ["task", "-q", "--cwd", REPO, name, ...args], { cwd, env });
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "blit-install-" }));
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("deno task install --dry-run prints each program's exact install", async () => {
  await withTemp(async (dir) => {
    const { code, stdout, stderr } = await task(dir, "install", ["--dry-run", "--root", "tools"]);
    equal(code, 0, stderr);
    const root = `${dir}/tools`;
    deepEqual(
      stdout.trimEnd().split("\n"),
      TASKS.flatMap((t) => [
        `cp ${REPO}/deno.lock ${root}/bin/.${t.name}.deno.lock`,
        `deno install -g --force --root ${root} --name ${t.name} --config ${REPO}/deno.json ` +
        `--lock ${root}/bin/.${t.name}.deno.lock --cached-only ${t.flags.join(" ")} ` +
        `${REPO}/${t.entry}`,
        `mv ${root}/bin/.${t.name}.deno.lock ${root}/bin/.${t.name}/deno.lock`,
      ]),
    );
    // The flags are the tasks' own, word for word.
    const config = JSON.parse(await Deno.readTextFile(`${REPO}/deno.json`)) as {
      tasks: Record<string, string>;
    };
    for (const t of TASKS) ok((config.tasks[t.name] ?? "").includes(t.flags.join(" ")), t.name);

    // BLIT_INSTALL_ROOT chooses the root when --root does not.
    const env = await task(dir, "install", ["--dry-run"], { BLIT_INSTALL_ROOT: "/opt/blit-root" });
    match(env.stdout, /^cp \S+ \/opt\/blit-root\/bin\/\.blit\.deno\.lock$/m);
    const gone = await task(dir, "uninstall", ["--dry-run", "--root", "tools"]);
    deepEqual(
      gone.stdout.trimEnd().split("\n"),
      TASKS.map((t) => `deno uninstall -g --root ${root} ${t.name}`),
    );
    const bad = await task(dir, "install", ["--frobnicate"]);
    equal(bad.code, 1);
    equal(bad.stderr, `install: Cannot use "--frobnicate": run with --help for the options\n`);
  });
});

Deno.test("deno task install puts working programs in ROOT/bin, uninstall removes them", async () => {
  await withTemp(async (dir) => {
    const lockBefore = await Deno.readFile(`${REPO}/deno.lock`);
    const installed = await task(dir, "install", ["--root", "root"]);
    equal(installed.code, 0, installed.stderr);
    for (const t of TASKS) ok(installed.stdout.includes(`installed ${t.name}: ${dir}/root/bin/`));
    deepEqual(await Deno.readFile(`${REPO}/deno.lock`), lockBefore, "the checkout's lock changed");

    // Offline (--cached-only, with the lock beside the installed config), from anywhere.
    await Deno.mkdir(`${dir}/work/src`, { recursive: true });
    await Deno.writeTextFile(`${dir}/work/src/a.txt`, "installed\n");
    const bin = `${dir}/root/bin`;
    const version = await run(`${bin}/blit`, ["--version"], { cwd: `${dir}/work` });
    equal(version.code, 0, version.stderr);
    equal(version.stdout, "blit 0.1.0\n");
    const help = await run(`${bin}/blit-utils`, ["--help"], { cwd: `${dir}/work` });
    equal(help.code, 0, help.stderr);
    match(help.stdout, /^blit-utils 0\.1\.0: inspect and maintain blit daemons/);
    const blitdHelp = await run(`${bin}/blitd`, ["--help"], { cwd: `${dir}/work` });
    equal(blitdHelp.code, 0, blitdHelp.stderr);
    // An installed blit copies relative to its own working directory, whatever INIT_CWD says.
    const copied = await run(`${bin}/blit`, ["copy", "src/", "dst"], {
      cwd: `${dir}/work`,
      env: { INIT_CWD: "/nonexistent-task-dir" },
    });
    equal(copied.code, 0, copied.stderr);
    equal(await Deno.readTextFile(`${dir}/work/dst/a.txt`), "installed\n");

    const removed = await task(dir, "uninstall", ["--root", "root"]);
    equal(removed.code, 0, removed.stderr);
    deepEqual([...Deno.readDirSync(bin)].map((e) => e.name), []);
    const again = await task(dir, "uninstall", ["--root", "root"]);
    equal(again.code, 0, again.stderr);
    match(again.stdout, /^not installed: /);
  });
});

Deno.test("deno task blit and blit-utils take relative paths from where they were typed", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/rel/a/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/rel/a/sub/f.txt`, "relative bytes\n");
    const copied = await task(dir, "blit", ["copy", "rel/a/", "rel/b"]);
    equal(copied.code, 0, copied.stderr);
    equal(await Deno.readTextFile(`${dir}/rel/b/sub/f.txt`), "relative bytes\n");
    ok(!(await Deno.stat(`${REPO}/rel`).then(() => true, () => false)), "wrote into the checkout");

    const listed = await task(dir, "blit-utils", ["ls", "rel/b", "--json"]);
    equal(listed.code, 0, listed.stderr);
    match(listed.stdout, /"sub"/);
    const used = await task(dir, "blit-utils", ["du", "rel/b", "--json"]);
    equal(used.code, 0, used.stderr);
    match(used.stdout, /"bytes":\s*15/);
  });
});

Deno.test("a BLIT_CWD that cannot be entered is one line and exit 1", async () => {
  for (const [entry, name] of [["cli/main.ts", "blit"], ["utils/main.ts", "blit-utils"]]) {
    const flags = TASKS.find((t) => t.name === name)?.flags ?? [];
    const { code, stdout, stderr } = await run(
      Deno.execPath(),
      ["run", ...flags, `${REPO}/${entry}`, "--version"],
      { cwd: REPO, env: { BLIT_CWD: "/nonexistent/typed-here" } },
    );
    equal(code, 1, stdout);
    match(
      stderr,
      new RegExp(
        `^${name}: Cannot change into "/nonexistent/typed-here", the directory the command was ` +
          `typed in \\(BLIT_CWD\\): [^\\n]+; run it from an existing directory, or unset BLIT_CWD\\n$`,
      ),
    );
  }
});
