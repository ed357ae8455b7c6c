/**
 * The single path validator of blit: every relative path that comes from a peer (a "wire path")
 * goes through this module before it reaches the disk.
 *
 * Two layers:
 *
 * - Lexical: {@linkcode validateWirePath}, {@linkcode resolveUnder}, {@linkcode toWirePath} and
 *   {@linkcode fromLocalRelative} check the syntax of a wire path without touching the disk.
 * - Physical: {@linkcode ContainedRoot} walks a wire path one component at a time under the real
 *   path of a root and refuses every symbolic link whose target leaves that root.
 *
 * Symlink policy of {@linkcode ContainedRoot}:
 *
 * - A symbolic link used as a directory component is followed only if each hop of its target,
 *   read with `readLink` and resolved by this module (never by the kernel), stays inside the
 *   root. A target that leaves the root, even to come back later, is refused with
 *   {@linkcode PathEscapeError}. Nothing outside the root is ever stat-ed, read or written, so a
 *   peer cannot probe the outside tree either.
 * - `..` inside a link target is applied to the physical directory reached so far, as the kernel
 *   does; `..` above the root is an escape.
 * - The final component is not followed by {@linkcode ContainedRoot.resolveExisting} and
 *   {@linkcode ContainedRoot.resolveForCreate} (callers copy or replace links as links), and is
 *   followed, with the same checks, by {@linkcode ContainedRoot.resolveExistingFollow} and
 *   {@linkcode ContainedRoot.mkdirContained}.
 * - Directories are never created through a dangling link.
 * - Every returned path has no symbolic link in its directory part: each directory component was
 *   an existing real directory inside the root at check time.
 *
 * Race (TOCTOU): Deno has no `openat`/`O_NOFOLLOW`, so a local user or process that can write
 * inside the root may swap a checked directory for a link between the check and the use. Keep the
 * window short: call a resolver right before each open, create or rename, and never cache its
 * result. Hard links and mount points inside a root are not detected; they are the
 * administrator's choice.
 *
 * @example Usage
 * ```ts ignore
 * import { ContainedRoot } from "./paths.ts";
 * const root = await ContainedRoot.open("/srv/module");
 * const source = await root.resolveExisting("photos/2024/a.jpg");
 * await root.mkdirContained("backup/2024");
 * const destination = await root.resolveForCreate("backup/2024/a.jpg");
 * ```
 *
 * @module
 */

// POSIX paths only, and no `node:path`: importing any `node:` module starts Deno's Node layer
// (~13 ms), and this module is on the start-up path of every run.
const sep = "/";

/** Joins POSIX path parts and normalises the result (`.` and `..` applied lexically). */
function join(...parts: string[]): string {
  const absolute = parts[0]?.startsWith("/") ?? false;
  const out: string[] = [];
  for (const part of parts) {
    for (const name of part.split("/")) {
      if (name === "" || name === ".") continue;
      if (name === "..") {
        if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
        else if (!absolute) out.push("..");
      } else out.push(name);
    }
  }
  const joined = out.join("/");
  return absolute ? `/${joined}` : joined === "" ? "." : joined;
}

function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/** Longest accepted wire path, in UTF-8 bytes (Linux `PATH_MAX`). */
export const MAX_WIRE_PATH_BYTES = 4096;

/** Longest accepted path component, in UTF-8 bytes (Linux `NAME_MAX`). */
export const MAX_COMPONENT_BYTES = 255;

/**
 * Most components an accepted wire path may have. 1,024 = 4,096 / 4: every path whose names are
 * three bytes or longer and that fits {@linkcode MAX_WIRE_PATH_BYTES} passes, so the cap only
 * refuses trees of one- and two-byte names deeper than any real tree (the shape of a hostile
 * chain). It bounds what one path may cost a sandboxed daemon, whose every `open` and `fstat`
 * makes Deno read each component of the path (`readlink`), so that a file's cost grows with the
 * square of its depth.
 */
export const MAX_WIRE_PATH_DEPTH = 1024;

/** Most symbolic links followed while resolving one path (Linux `MAXSYMLINKS`). */
const MAX_LINK_HOPS = 40;

import { PathEscapeError, PathInvalidError, quotePath as quote } from "./errors.ts";

/** Splits a link target on the local separator. */
const LOCAL_SEPARATORS_REGEXP = /\//;
export { PathEscapeError, PathInvalidError };

/**
 * The UTF-8 length of a string, without encoding it (exact for well-formed strings).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { utf8Length } from "./paths.ts";
 * strictEqual(utf8Length("aé€😀"), 1 + 2 + 3 + 4);
 * ```
 *
 * @param text Any string.
 * @returns Its length in UTF-8 bytes.
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Checks a wire path and returns its components.
 *
 * A wire path is relative, `/`-separated, and made of non-empty components other than `.` and
 * `..`. The empty string names the root. Names are kept as received (no Unicode normalisation).
 *
 * @param rel The path received from a peer.
 * @throws {PathInvalidError} If `rel` is absolute, has `.` or `..` segments, an empty component
 * (`a//b`) or a trailing slash, contains NUL, a backslash or a lone UTF-16 surrogate, is longer
 * than {@linkcode MAX_WIRE_PATH_BYTES} bytes, has more than {@linkcode MAX_WIRE_PATH_DEPTH}
 * components, or has a component longer than {@linkcode MAX_COMPONENT_BYTES} bytes (UTF-8).
 * @returns The components, `[]` for the root.
 *
 * @example Basic usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { validateWirePath } from "./paths.ts";
 * deepStrictEqual(validateWirePath("photos/2024/a.jpg"), ["photos", "2024", "a.jpg"]);
 * deepStrictEqual(validateWirePath(""), []);
 * ```
 *
 * @example Refusing a parent segment
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { PathInvalidError, validateWirePath } from "./paths.ts";
 * throws(() => validateWirePath("a/../../etc/passwd"), PathInvalidError);
 * ```
 *
 * @example Refusing a path deeper than the cap
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { MAX_WIRE_PATH_DEPTH, validateWirePath } from "./paths.ts";
 * const deep = Array(MAX_WIRE_PATH_DEPTH + 1).fill("a").join("/");
 * throws(() => validateWirePath(deep), /deeper than 1024 levels/);
 * ```
 */
export function validateWirePath(rel: string): string[] {
  if (typeof rel !== "string") throw new PathInvalidError(String(rel), "it is not a string");
  if (rel === "") return [];
  // Each UTF-16 unit takes one to three UTF-8 bytes: refuse huge inputs before scanning them,
  // and count only a path that could be too long (the hot path: every file of a session).
  if (
    rel.length > MAX_WIRE_PATH_BYTES ||
    (rel.length * 3 > MAX_WIRE_PATH_BYTES && utf8Length(rel) > MAX_WIRE_PATH_BYTES)
  ) {
    throw new PathInvalidError(rel, `it is longer than ${MAX_WIRE_PATH_BYTES} bytes`);
  }
  if (!rel.isWellFormed()) throw new PathInvalidError(rel, "it is not valid Unicode");
  if (rel.includes("\0")) throw new PathInvalidError(rel, "it contains a NUL character");
  if (rel.includes("\\")) throw new PathInvalidError(rel, "it contains a backslash");
  if (rel.startsWith("/")) throw new PathInvalidError(rel, "it is absolute");
  if (rel.endsWith("/")) throw new PathInvalidError(rel, "it ends with a slash");
  const components = rel.split("/");
  if (components.length > MAX_WIRE_PATH_DEPTH) {
    throw new PathInvalidError(rel, `it is deeper than ${MAX_WIRE_PATH_DEPTH} levels`);
  }
  for (const component of components) {
    if (component === "") throw new PathInvalidError(rel, "it has an empty component");
    if (component === "." || component === "..") {
      throw new PathInvalidError(rel, `it has a "${component}" segment`);
    }
    if (component.length * 3 > MAX_COMPONENT_BYTES && utf8Length(component) > MAX_COMPONENT_BYTES) {
      throw new PathInvalidError(
        rel,
        `a component is longer than ${MAX_COMPONENT_BYTES} bytes`,
      );
    }
  }
  return components;
}

/**
 * Joins a wire path onto `root` lexically, after {@linkcode validateWirePath}. It does not touch
 * the disk and so does not see symbolic links: use {@linkcode ContainedRoot} for anything that
 * reads or writes.
 *
 * @param root A local directory path.
 * @param rel The path received from a peer.
 * @throws {PathInvalidError} If `rel` is not a valid wire path.
 * @returns The local path of `rel` under `root`, normalised.
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { PathInvalidError, resolveUnder } from "./paths.ts";
 * strictEqual(resolveUnder("/srv/m", "a/b.txt"), "/srv/m/a/b.txt");
 * strictEqual(resolveUnder("/srv/m/", ""), "/srv/m");
 * throws(() => resolveUnder("/srv/m", "../etc"), PathInvalidError);
 * ```
 */
export function resolveUnder(root: string, rel: string): string {
  const joined = join(root, ...validateWirePath(rel));
  return joined.length > 1 && joined.endsWith(sep) ? joined.slice(0, -1) : joined;
}

/**
 * Encodes path components as a wire path, checking each of them.
 *
 * @param components Names from the root down; `[]` for the root.
 * @throws {PathInvalidError} If a component is empty, `.`, `..`, contains `/`, NUL or a
 * backslash, or a length limit is exceeded.
 * @returns The wire path (`""` for the root).
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { PathInvalidError, toWirePath } from "./paths.ts";
 * strictEqual(toWirePath(["a", "b.txt"]), "a/b.txt");
 * strictEqual(toWirePath([]), "");
 * throws(() => toWirePath(["a/b"]), PathInvalidError);
 * ```
 */
export function toWirePath(components: readonly string[]): string {
  const wire = components.join("/");
  if (components.length === 1 && components[0] === "") {
    throw new PathInvalidError(wire, "it has an empty component");
  }
  if (validateWirePath(wire).length !== components.length) {
    throw new PathInvalidError(wire, "a component contains a slash");
  }
  return wire;
}

/**
 * Converts a relative path produced on this machine (for example by `node:path` `relative()`) to
 * a wire path. Local separators become `/`; `""` and `"."` name the root.
 *
 * On POSIX a backslash is an ordinary name character, but the wire format refuses it, so such
 * names cannot be sent.
 *
 * @param osRelPath A relative path in the local syntax.
 * @throws {PathInvalidError} If the result is not a valid wire path (absolute, `..`, …).
 * @returns The wire path.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { fromLocalRelative } from "./paths.ts";
 * strictEqual(fromLocalRelative("photos/a.jpg"), "photos/a.jpg");
 * strictEqual(fromLocalRelative("."), "");
 * ```
 */
export function fromLocalRelative(osRelPath: string): string {
  if (osRelPath === "" || osRelPath === ".") return "";
  const wire = osRelPath;
  validateWirePath(wire);
  return wire;
}

/** One file system call requested by the resolver. */
type FsRequest =
  | { readonly op: "lstat"; readonly path: string }
  | { readonly op: "readLink"; readonly path: string }
  | { readonly op: "mkdir"; readonly path: string };

/** Answer to an {@linkcode FsRequest}: `null` for a missing path or a finished mkdir. */
type FsReply = Deno.FileInfo | string | null;

/** The resolver, written once and driven by a sync or an async runner. */
type Walk = Generator<FsRequest, string, FsReply>;

/** What a walk does with the final component. */
type WalkMode =
  /** Must exist; a final link is returned, not followed. */
  | "existing"
  /** Must exist; a final link is followed. */
  | "follow"
  /** May be missing along with missing parents; a final link is returned, not followed. */
  | "create"
  /** Missing directories are created; every component must end as a directory. */
  | "mkdir";

/** Asks the runner for `lstat`; `null` means the path does not exist. */
function* lstatOf(path: string): Generator<FsRequest, Deno.FileInfo | null, FsReply> {
  const reply = yield { op: "lstat", path };
  if (typeof reply === "string") throw new TypeError("Cannot stat path: bad runner reply");
  return reply;
}

/** Asks the runner for `readLink`; `null` when the entry is no longer a link. */
function* readLinkOf(path: string): Generator<FsRequest, string | null, FsReply> {
  const reply = yield { op: "readLink", path };
  if (reply !== null && typeof reply !== "string") {
    throw new TypeError("Cannot read link: bad runner reply");
  }
  return reply;
}

/** Whether a `readlink` failed because the entry is not a link (any more). */
function notALink(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "EINVAL";
}

/** Asks the runner for a single (non-recursive) `mkdir`; an existing entry is not an error. */
function* mkdirOf(path: string): Generator<FsRequest, void, FsReply> {
  yield { op: "mkdir", path };
}

/** Runs one request synchronously. */
function runRequestSync(request: FsRequest): FsReply {
  try {
    switch (request.op) {
      case "lstat":
        return Deno.lstatSync(request.path);
      case "readLink":
        return Deno.readLinkSync(request.path);
      case "mkdir":
        Deno.mkdirSync(request.path);
        return null;
    }
  } catch (error) {
    if (request.op === "lstat" && error instanceof Deno.errors.NotFound) return null;
    if (request.op === "mkdir" && error instanceof Deno.errors.AlreadyExists) return null;
    if (request.op === "readLink" && notALink(error)) return null;
    throw error;
  }
}

/** Runs one request asynchronously. */
async function runRequest(request: FsRequest): Promise<FsReply> {
  try {
    switch (request.op) {
      case "lstat":
        return await Deno.lstat(request.path);
      case "readLink":
        return await Deno.readLink(request.path);
      case "mkdir":
        await Deno.mkdir(request.path);
        return null;
    }
  } catch (error) {
    if (request.op === "lstat" && error instanceof Deno.errors.NotFound) return null;
    if (request.op === "mkdir" && error instanceof Deno.errors.AlreadyExists) return null;
    if (request.op === "readLink" && notALink(error)) return null;
    throw error;
  }
}

/** Drives a walk with synchronous file system calls. */
function runSync(walk: Walk): string {
  let step = walk.next();
  while (!step.done) step = walk.next(runRequestSync(step.value));
  return step.value;
}

/** Drives a walk with asynchronous file system calls. */
async function runAsync(walk: Walk): Promise<string> {
  let step = walk.next();
  while (!step.done) step = walk.next(await runRequest(step.value));
  return step.value;
}

/** Splits a local path into its components, dropping empty and `.` ones. */
function splitLocal(path: string): string[] {
  return path.split(LOCAL_SEPARATORS_REGEXP).filter((part) => part !== "" && part !== ".");
}

/**
 * A directory that confines every path resolved through it, symbolic links included.
 *
 * Create it with {@linkcode ContainedRoot.open}; it records the real path of the root once.
 * Each resolver checks the disk at call time: call it right before the open, create or rename it
 * guards and do not cache the result.
 *
 * @example Usage
 * ```ts ignore
 * import { ContainedRoot } from "./paths.ts";
 * const root = await ContainedRoot.open("/srv/module");
 * const file = await Deno.open(await root.resolveExistingFollow("docs/readme.txt"));
 * file.close();
 * ```
 */
export class ContainedRoot {
  /** The real path of the root (`Deno.realPath` at open time). */
  readonly path: string;
  /** Components of {@linkcode ContainedRoot.path}, to compare absolute link targets. */
  readonly #parts: readonly string[];

  private constructor(realRoot: string) {
    this.path = realRoot;
    this.#parts = splitLocal(realRoot);
  }

  /**
   * Opens a root: resolves its real path and checks that it is a directory.
   *
   * Requires `--allow-read` for the root.
   *
   * @param rootPath A local directory (it may itself be, or go through, a symbolic link).
   * @throws {Deno.errors.NotFound} If `rootPath` does not exist.
   * @throws {Deno.errors.NotADirectory} If `rootPath` is not a directory.
   * @returns The contained root.
   *
   * @example Usage
   * ```ts ignore
   * import { ContainedRoot } from "./paths.ts";
   * const root = await ContainedRoot.open("/srv/module");
   * console.log(root.path);
   * ```
   */
  static async open(rootPath: string): Promise<ContainedRoot> {
    const real = await Deno.realPath(rootPath);
    if (!(await Deno.stat(real)).isDirectory) {
      throw new Deno.errors.NotADirectory(`Cannot open root ${quote(rootPath)}: not a directory`);
    }
    return new ContainedRoot(real);
  }

  /**
   * A root at a path the caller has just verified to be real: absolute, normalised, and with no
   * symbolic link in it (for example a path this class resolved, each component then checked by
   * device and inode). Unlike {@linkcode ContainedRoot.openSync} it does not ask the kernel for
   * the real path again, which a local user could race to lead elsewhere.
   *
   * @param realPath The verified path.
   * @returns The contained root.
   *
   * @example Usage
   * ```ts
   * import { strictEqual } from "node:assert/strict";
   * import { ContainedRoot } from "./paths.ts";
   * const root = ContainedRoot.openSync(Deno.makeTempDirSync());
   * Deno.mkdirSync(`${root.path}/a`);
   * const inner = ContainedRoot.atRealPath(root.resolveExistingFollowSync("a"));
   * strictEqual(inner.path, `${root.path}/a`);
   * Deno.removeSync(root.path, { recursive: true });
   * ```
   */
  static atRealPath(realPath: string): ContainedRoot {
    return new ContainedRoot(realPath);
  }

  /**
   * Synchronous twin of {@linkcode ContainedRoot.open}.
   *
   * @param rootPath A local directory.
   * @throws {Deno.errors.NotFound} If `rootPath` does not exist.
   * @throws {Deno.errors.NotADirectory} If `rootPath` is not a directory.
   * @returns The contained root.
   *
   * @example Usage
   * ```ts ignore
   * import { ContainedRoot } from "./paths.ts";
   * const root = ContainedRoot.openSync("/srv/module");
   * ```
   */
  static openSync(rootPath: string): ContainedRoot {
    const real = Deno.realPathSync(rootPath);
    if (!Deno.statSync(real).isDirectory) {
      throw new Deno.errors.NotADirectory(`Cannot open root ${quote(rootPath)}: not a directory`);
    }
    return new ContainedRoot(real);
  }

  /**
   * Resolves an existing entry for reading or listing, with `lstat` semantics: when the final
   * component is a symbolic link, the path of the link itself is returned (callers copy links as
   * links and never follow them). Intermediate links are followed only while they stay inside
   * the root.
   *
   * Requires `--allow-read` for the root.
   *
   * @param rel The wire path.
   * @throws {PathInvalidError} If `rel` is not a valid wire path.
   * @throws {PathEscapeError} If an intermediate link leads outside the root.
   * @throws {Deno.errors.NotFound} If a component, or an intermediate link target, is missing.
   * @throws {Deno.errors.NotADirectory} If an intermediate component is not a directory.
   * @throws {Deno.errors.FilesystemLoop} If more than 40 links are met.
   * @returns A local path whose directory part holds no symbolic link.
   *
   * @example Usage
   * ```ts ignore
   * import { ContainedRoot } from "./paths.ts";
   * const root = await ContainedRoot.open("/srv/module");
   * const info = await Deno.lstat(await root.resolveExisting("a/maybe-a-link"));
   * ```
   */
  resolveExisting(rel: string): Promise<string> {
    return runAsync(this.#walk(rel, "existing"));
  }

  /**
   * Synchronous twin of {@linkcode ContainedRoot.resolveExisting}.
   *
   * @param rel The wire path.
   * @throws {PathInvalidError} If `rel` is not a valid wire path.
   * @throws {PathEscapeError} If an intermediate link leads outside the root.
   * @throws {Deno.errors.NotFound} If a component, or an intermediate link target, is missing.
   * @returns A local path whose directory part holds no symbolic link.
   *
   * @example Usage
   * ```ts ignore
   * import { ContainedRoot } from "./paths.ts";
   * const root = ContainedRoot.openSync("/srv/module");
   * const path = root.resolveExistingSync("a/b.txt");
   * ```
   */
  resolveExistingSync(rel: string): string {
    return runSync(this.#walk(rel, "existing"));
  }

  /**
   * Resolves an existing entry whose content must be read, following a final symbolic link too
   * (with the same containment checks). The result is never a link.
   *
   * Requires `--allow-read` for the root.
   *
   * @param rel The wire path.
   * @throws {PathInvalidError} If `rel` is not a valid wire path.
   * @throws {PathEscapeError} If any link, the final one included, leads outside the root.
   * @throws {Deno.errors.NotFound} If a component or a link target (a dangling link) is missing.
   * @throws {Deno.errors.NotADirectory} If an intermediate component is not a directory.
   * @throws {Deno.errors.FilesystemLoop} If more than 40 links are met.
   * @returns The local path of the entry the final link leads to.
   *
   * @example Usage
   * ```ts ignore
   * import { ContainedRoot } from "./paths.ts";
   * const root = await ContainedRoot.open("/srv/module");
   * const text = await Deno.readTextFile(await root.resolveExistingFollow("current/notes.txt"));
   * ```
   */
  resolveExistingFollow(rel: string): Promise<string> {
    return runAsync(this.#walk(rel, "follow"));
  }

  /**
   * Synchronous twin of {@linkcode ContainedRoot.resolveExistingFollow}.
   *
   * @param rel The wire path.
   * @throws {PathInvalidError} If `rel` is not a valid wire path.
   * @throws {PathEscapeError} If any link, the final one included, leads outside the root.
   * @throws {Deno.errors.NotFound} If a component or a link target is missing.
   * @returns The local path of the entry the final link leads to.
   *
   * @example Usage
   * ```ts ignore
   * import { ContainedRoot } from "./paths.ts";
   * const root = ContainedRoot.openSync("/srv/module");
   * const path = root.resolveExistingFollowSync("current/notes.txt");
   * ```
   */
  resolveExistingFollowSync(rel: string): string {
    return runSync(this.#walk(rel, "follow"));
  }

  /**
   * Resolves a destination for writing. The existing directory chain must stay inside the root;
   * missing directories are allowed (create them with {@linkcode ContainedRoot.mkdirContained},
   * then call this again right before the write). When the final component exists and is a
   * symbolic link, the path of the link itself is returned: the caller replaces the link (rename
   * over it) and never writes through it.
   *
   * Requires `--allow-read` for the root.
   *
   * @param rel The wire path.
   * @throws {PathInvalidError} If `rel` is not a valid wire path.
   * @throws {PathEscapeError} If an intermediate link leads outside the root.
   * @throws {Deno.errors.NotFound} If an intermediate link is dangling.
   * @throws {Deno.errors.NotADirectory} If an intermediate component is not a directory.
   * @throws {Deno.errors.FilesystemLoop} If more than 40 links are met.
   * @returns A local path whose existing directory part holds no symbolic link.
   *
   * @example Usage
   * ```ts ignore
   * import { ContainedRoot } from "./paths.ts";
   * const root = await ContainedRoot.open("/srv/module");
   * await root.mkdirContained("backup/2024");
   * await Deno.writeTextFile(await root.resolveForCreate("backup/2024/a.txt"), "hello");
   * ```
   */
  resolveForCreate(rel: string): Promise<string> {
    return runAsync(this.#walk(rel, "create"));
  }

  /**
   * Synchronous twin of {@linkcode ContainedRoot.resolveForCreate}.
   *
   * @param rel The wire path.
   * @throws {PathInvalidError} If `rel` is not a valid wire path.
   * @throws {PathEscapeError} If an intermediate link leads outside the root.
   * @throws {Deno.errors.NotFound} If an intermediate link is dangling.
   * @returns A local path whose existing directory part holds no symbolic link.
   *
   * @example Usage
   * ```ts ignore
   * import { ContainedRoot } from "./paths.ts";
   * const root = ContainedRoot.openSync("/srv/module");
   * const path = root.resolveForCreateSync("backup/a.txt");
   * ```
   */
  resolveForCreateSync(rel: string): string {
    return runSync(this.#walk(rel, "create"));
  }

  /**
   * Creates the directory `rel` and its missing parents, one component at a time. Each missing
   * component is created inside a directory just checked to be a real directory of the root, and
   * is checked again after creation; an existing component must be a directory or a link that
   * stays inside the root and leads to one. Nothing is ever created through a dangling link.
   *
   * Requires `--allow-read` and `--allow-write` for the root.
   *
   * @param rel The wire path of the directory.
   * @throws {PathInvalidError} If `rel` is not a valid wire path.
   * @throws {PathEscapeError} If a link on the way leads outside the root.
   * @throws {Deno.errors.NotFound} If a link on the way is dangling.
   * @throws {Deno.errors.NotADirectory} If a component exists and is not a directory.
   * @returns The local path of the directory, with no symbolic link in it.
   *
   * @example Usage
   * ```ts ignore
   * import { ContainedRoot } from "./paths.ts";
   * const root = await ContainedRoot.open("/srv/module");
   * const dir = await root.mkdirContained("backup/2024/06");
   * ```
   */
  mkdirContained(rel: string): Promise<string> {
    return runAsync(this.#walk(rel, "mkdir"));
  }

  /**
   * Synchronous twin of {@linkcode ContainedRoot.mkdirContained}.
   *
   * @param rel The wire path of the directory.
   * @throws {PathInvalidError} If `rel` is not a valid wire path.
   * @throws {PathEscapeError} If a link on the way leads outside the root.
   * @throws {Deno.errors.NotFound} If a link on the way is dangling.
   * @throws {Deno.errors.NotADirectory} If a component exists and is not a directory.
   * @returns The local path of the directory, with no symbolic link in it.
   *
   * @example Usage
   * ```ts ignore
   * import { ContainedRoot } from "./paths.ts";
   * const root = ContainedRoot.openSync("/srv/module");
   * const dir = root.mkdirContainedSync("backup/2024/06");
   * ```
   */
  mkdirContainedSync(rel: string): string {
    return runSync(this.#walk(rel, "mkdir"));
  }

  /**
   * The resolver. `resolved` holds only components checked to be real directories, so a `..`
   * from a link target can be applied to it lexically with the kernel's physical meaning.
   * `pending` is a stack (next component last); link targets are pushed on top of it, and
   * `fromLinks` counts how many of its top entries came from link targets.
   */
  *#walk(rel: string, mode: WalkMode): Walk {
    const wire = validateWirePath(rel);
    const resolved: string[] = [];
    // The local path of `resolved`, kept as it grows: joining from the root for every component
    // made a deep path cost the square of its depth.
    let here = this.path;
    const below = (name: string): string => here === "/" ? `/${name}` : `${here}/${name}`;
    const pending = wire.reverse();
    let fromLinks = 0;
    let hops = 0;
    let mkdirTries = 0;
    while (pending.length > 0) {
      const name = pending.pop() as string;
      const fromLink = fromLinks > 0;
      if (fromLink) fromLinks--;
      if (name === "..") {
        if (resolved.length === 0) {
          throw new PathEscapeError(rel, this.path, "a link target climbs above the root");
        }
        resolved.pop();
        here = join(this.path, ...resolved);
        continue;
      }
      const isLast = pending.length === 0;
      const path = below(name);
      const info = yield* lstatOf(path);
      if (info === null) {
        if (fromLink) {
          throw new Deno.errors.NotFound(
            `Cannot resolve path ${quote(rel)} under ${quote(this.path)}: a link is dangling`,
          );
        }
        if (mode === "create") return join(path, ...pending.reverse());
        if (mode === "mkdir" && mkdirTries++ < 3) {
          yield* mkdirOf(path);
          pending.push(name); // check the new entry like any existing one
          continue;
        }
        throw new Deno.errors.NotFound(
          `Cannot resolve path ${quote(rel)} under ${quote(this.path)}: ${
            quote(name)
          } does not exist`,
        );
      }
      if (info.isSymlink) {
        if (isLast && (mode === "existing" || mode === "create")) return path;
        if (++hops > MAX_LINK_HOPS) {
          throw new Deno.errors.FilesystemLoop(
            `Cannot resolve path ${quote(rel)} under ${quote(this.path)}: too many links`,
          );
        }
        const target = yield* readLinkOf(path);
        if (target === null) {
          throw new PathEscapeError(rel, this.path, `${quote(name)} changed while it was resolved`);
        }
        let parts = splitLocal(target);
        if (isAbsolute(target)) {
          const inside = parts.length >= this.#parts.length &&
            this.#parts.every((part, i) => parts[i] === part);
          if (!inside) {
            throw new PathEscapeError(rel, this.path, "a link points outside the root");
          }
          parts = parts.slice(this.#parts.length);
          resolved.length = 0;
          here = this.path;
        }
        for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i] as string);
        fromLinks += parts.length;
        continue;
      }
      if ((!isLast || mode === "mkdir") && !info.isDirectory) {
        throw new Deno.errors.NotADirectory(
          `Cannot resolve path ${quote(rel)} under ${quote(this.path)}: ${
            quote(name)
          } is not a directory`,
        );
      }
      mkdirTries = 0;
      resolved.push(name);
      here = path;
    }
    return here;
  }
}
