/**
 * Shared helpers of blit's tests: run the real CLI, build trees, read them back.
 *
 * @module
 */

/** Absolute path of the repository root. */
export const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Result of running a command. */
export interface RunResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * The permission flags of the `blit` task in deno.json, with relative paths made absolute, so
 * tests run the CLI exactly as the task does.
 * @returns `deno run` flags.
 */
export function blitTaskFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  const words = (config.tasks.blit ?? "").split(/\s+/);
  return words.filter((w) => w.startsWith("--")).map((w) => w.replace("=./", `=${REPO}/`));
}

let configHome: string | undefined;

/**
 * A private config directory for the CLIs the tests run (removed when the test process exits),
 * so tests never touch the user's performance history.
 * @returns The directory to use as `XDG_CONFIG_HOME`.
 */
export function testConfigHome(): string {
  if (!configHome) {
    const dir = Deno.makeTempDirSync({ prefix: "blit-test-config-" });
    configHome = dir;
    // The library, called in this process, looks for its key and known hosts here too.
    Deno.env.set("XDG_CONFIG_HOME", dir);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
  }
  return configHome;
}

/** Options of {@linkcode runBlit}. */
export interface RunOptions {
  /** Working directory. */
  cwd?: string;
  /** Extra `deno run` flags placed before the script (e.g. `--deny-read=PATH`). */
  denoFlags?: string[];
  /** Environment additions. */
  env?: Record<string, string>;
  /** Replaces the task's `--allow-net` with `--allow-net=VALUE` (e.g. to block a data port). */
  netAllow?: string;
}

/**
 * Runs the real `blit` CLI in a subprocess with the task's permissions.
 * @param args CLI arguments.
 * @param options Working directory and extra flags.
 * @returns Exit code and output.
 */
export async function runBlit(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return await spawnBlit(args, options).result;
}

/**
 * Runs the real CLI as someone running the sources would: `deno run -A cli/main.ts ARGS`, without
 * the task's flags and without the tests' private config home (pass `XDG_CONFIG_HOME` in `env`).
 * @param args CLI arguments.
 * @param env Environment additions.
 * @returns Exit code and output.
 */
export async function runBlitAllowAll(
  args: string[],
  env: Record<string, string> = {},
): Promise<RunResult> {
  return decodeOutput(
    await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${REPO}/cli/main.ts`, ...args],
      cwd: REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...env },
    }).output(),
  );
}

/** A running `blit` (see {@linkcode spawnBlit}). */
export interface RunningBlit {
  /** The process (to signal it). */
  child: Deno.ChildProcess;
  /** Its exit code and output, once it has exited. */
  result: Promise<RunResult>;
}

/**
 * Starts the real `blit` CLI in a subprocess with the task's permissions, without waiting.
 * @param args CLI arguments.
 * @param options Working directory and extra flags.
 * @returns The process and its result.
 */
export function spawnBlit(args: string[], options: RunOptions = {}): RunningBlit {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...blitTaskFlags().map((f) =>
        f === "--allow-net" && options.netAllow ? `--allow-net=${options.netAllow}` : f
      ),
      ...(options.denoFlags ?? []),
      `${REPO}/cli/main.ts`,
      ...args,
    ],
    cwd: options.cwd ?? REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", XDG_CONFIG_HOME: testConfigHome(), ...(options.env ?? {}) },
  }).spawn();
  const result = child.output().then(decodeOutput);
  return { child, result };
}

/** A file tree description: path → contents (string), or a `{ link }` / `{ dir }` marker. */
export type TreeSpec = Record<string, string | Uint8Array | { link: string } | { dir: true }>;

/**
 * Creates files, directories and links under `root`.
 * @param root Existing directory.
 * @param spec What to create.
 */
export async function makeTree(root: string, spec: TreeSpec): Promise<void> {
  for (const [path, value] of Object.entries(spec)) {
    const abs = `${root}/${path}`;
    await Deno.mkdir(abs.slice(0, abs.lastIndexOf("/")), { recursive: true });
    if (typeof value === "string") await Deno.writeTextFile(abs, value);
    else if (value instanceof Uint8Array) await Deno.writeFile(abs, value);
    else if ("link" in value) await Deno.symlink(value.link, abs);
    else await Deno.mkdir(abs, { recursive: true });
  }
}

/** What {@linkcode readTree} reports for each entry. */
export interface TreeEntry {
  /** `file`, `dir` or `symlink`. */
  kind: string;
  /** File contents as text, or link target. */
  content?: string;
  /** Permission bits. */
  mode: number;
  /** Modification time in ms (files and dirs). */
  mtimeMs: number;
}

/**
 * Reads a tree back: relative path → kind, content, mode, mtime.
 * @param root Directory to read.
 * @returns The entries, sorted by path.
 */
export async function readTree(root: string): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    names.sort();
    for (const name of names) {
      const abs = `${dir}/${name}`;
      const rel = prefix ? `${prefix}/${name}` : name;
      const info = await Deno.lstat(abs);
      const base = { mode: (info.mode ?? 0) & 0o7777, mtimeMs: info.mtime?.getTime() ?? 0 };
      if (info.isSymlink) {
        out[rel] = { kind: "symlink", content: await Deno.readLink(abs), ...base, mtimeMs: 0 };
      } else if (info.isDirectory) {
        out[rel] = { kind: "dir", ...base };
        await walk(abs, rel);
      } else {
        out[rel] = { kind: "file", content: await Deno.readTextFile(abs), ...base };
      }
    }
  };
  await walk(root, "");
  return out;
}

/**
 * Creates a temp directory, runs `fn`, and removes the directory.
 * @param fn The test body, given the directory.
 */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "blit-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Sets a path's mtime.
 * @param path The path.
 * @param ms Milliseconds since the epoch.
 */
export async function setMtime(path: string, ms: number): Promise<void> {
  const date = new Date(ms);
  await Deno.utime(path, date, date);
}

/**
 * Asserts nothing in `text` looks like a stack trace.
 * @param text Output to check.
 */
export function assertNoStack(text: string): void {
  if (/^\s+at .+:\d+:\d+/m.test(text) || /Stack backtrace/.test(text)) {
    throw new Error(`Output has a stack trace:\n${text}`);
  }
}

/**
 * A payload item (data plane or shard) that reads a local file.
 * @param id Manifest id.
 * @param path Absolute path.
 * @param size Announced size.
 * @returns The item.
 */
export function localItem(
  id: number,
  path: string,
  size: number,
): { id: number; path: string; size: number; open: () => Deno.FsFile } {
  return { id, path, size, open: () => Deno.openSync(path, { read: true }) };
}

/** Flags of the `blit-utils` task in deno.json, or the ones it is meant to have. */
export function utilsTaskFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  const task = config.tasks["blit-utils"];
  if (task === undefined) {
    return ["--allow-read", "--allow-write", "--allow-net", "--allow-env", "--allow-sys"];
  }
  return task.split(/\s+/).filter((w) => w.startsWith("--")).map((w) =>
    w.replace("=./", `=${REPO}/`)
  );
}

/**
 * Runs the real `blit-utils` in a subprocess with the task's permissions (stdin is not a
 * terminal).
 * @param args Arguments.
 * @param options Working directory and environment.
 * @returns Exit code and output.
 */
export async function runUtils(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", ...utilsTaskFlags(), `${REPO}/utils/main.ts`, ...args],
    cwd: options.cwd ?? REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", XDG_CONFIG_HOME: testConfigHome(), ...(options.env ?? {}) },
  });
  const result = decodeOutput(await command.output());
  assertNoStack(result.stderr);
  return result;
}

/**
 * A deterministic pseudo-random byte string (xorshift32), for files whose blocks must differ.
 * @param length Bytes.
 * @param seed Any number but 0 gives another string.
 * @returns The bytes.
 */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * The byte strings one after the other.
 * @param parts The strings.
 * @returns Their concatenation.
 */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The environment for a child that runs `deno task`: this process's, without `INIT_CWD`. Deno
 * (like npm) sets `INIT_CWD` only when it is not set yet, so under `deno task test` every nested
 * task would inherit the checkout as the directory "the command was typed in".
 * @param extra Variables to add.
 * @returns The whole environment (use it with `clearEnv: true`).
 */
export function taskChildEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.INIT_CWD;
  return { ...env, ...extra };
}

/**
 * Whether anything (a link not followed) is at `path`.
 * @param path The path.
 * @returns `true` when `lstat` finds something.
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A finished command's exit code and its output as text.
 * @param output From `Deno.Command.output()` (both streams piped).
 * @returns The code, stdout and stderr.
 */
export function decodeOutput(
  output: { code: number; stdout: Uint8Array; stderr: Uint8Array },
): RunResult {
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
