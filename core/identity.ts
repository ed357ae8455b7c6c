/**
 * A user's identity: an Ed25519 key pair (WebCrypto), kept on disk as a PKCS#8 PEM private key
 * readable by its owner only, and a one-line public key next to it:
 *
 * ```text
 * ~/.config/blit/id_ed25519      -----BEGIN PRIVATE KEY----- … (mode 0600)
 * ~/.config/blit/id_ed25519.pub  blit-ed25519 <base64 of the 32 raw bytes> alice@laptop
 * ```
 *
 * A daemon's configuration lists public keys as `blit-ed25519 …` lines or as OpenSSH
 * `ssh-ed25519 …` lines (so that an existing `~/.ssh/id_ed25519.pub` can be pasted); both carry
 * the same 32 bytes. Fingerprints are `SHA256:` and the unpadded base64 of the SHA-256 of those
 * 32 raw bytes (not of the OpenSSH wire blob, so they differ from `ssh-keygen -l`).
 *
 * @module
 */

/** A private key loaded from disk, ready to sign. */
export interface Identity {
  /** The file the private key came from. */
  path: string;
  /** The private key (not extractable). */
  privateKey: CryptoKey;
  /** The public key: 32 raw bytes. */
  publicKey: Uint8Array;
  /** The comment of `PATH.pub` (`""` when that file is missing or does not match). */
  comment: string;
}

/** A parsed public-key line. */
export interface PublicKey {
  /** The key: 32 raw bytes. */
  raw: Uint8Array;
  /** The text after the key (`""` when there is none). */
  comment: string;
}

/** The type word of blit's own public-key lines. */
export const BLIT_KEY_TYPE = "blit-ed25519";

/** The type word of OpenSSH Ed25519 public-key lines. */
export const SSH_KEY_TYPE = "ssh-ed25519";

/** Length of an Ed25519 public key. */
export const PUBLIC_KEY_BYTES = 32;

/** Length of an Ed25519 signature. */
export const SIGNATURE_BYTES = 64;

/** Why {@linkcode loadIdentity} refused a key file. */
export type IdentityErrorReason = "missing" | "mode" | "invalid" | "unreadable";

/**
 * Thrown by {@linkcode loadIdentity} when a key file cannot be used; the message is one line
 * naming the file, the problem and the fix.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { IdentityError } from "./identity.ts";
 * const error = new IdentityError("missing", "/k", 'Cannot read key "/k": the file does not exist');
 * strictEqual(error.name, "IdentityError");
 * strictEqual(error.reason, "missing");
 * ```
 */
export class IdentityError extends Error {
  /** What is wrong: the file is missing, too open, not a key, or unreadable. */
  readonly reason: IdentityErrorReason;
  /** The key file. */
  readonly path: string;

  /**
   * Creates the error.
   * @param reason What is wrong.
   * @param path The key file.
   * @param message One line naming the problem and the fix.
   * @param options Standard error options (`cause`).
   */
  constructor(reason: IdentityErrorReason, path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "IdentityError";
    this.reason = reason;
    this.path = path;
  }
}

const ED25519 = { name: "Ed25519" } as const;
const PEM_BEGIN = "-----BEGIN PRIVATE KEY-----";
const PEM_END = "-----END PRIVATE KEY-----";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The default place of a user's private key: `$XDG_CONFIG_HOME/blit/id_ed25519`, else
 * `$HOME/.config/blit/id_ed25519`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { defaultIdentityPath } from "./identity.ts";
 * strictEqual(defaultIdentityPath({ HOME: "/home/a" }), "/home/a/.config/blit/id_ed25519");
 * strictEqual(
 *   defaultIdentityPath({ XDG_CONFIG_HOME: "/cfg", HOME: "/home/a" }),
 *   "/cfg/blit/id_ed25519",
 * );
 * ```
 *
 * @param env The variables to use (default: the process environment, where readable).
 * @throws {TypeError} If neither `XDG_CONFIG_HOME` nor `HOME` is set.
 * @returns The path.
 */
export function defaultIdentityPath(env?: { XDG_CONFIG_HOME?: string; HOME?: string }): string {
  const { XDG_CONFIG_HOME: xdg, HOME: home } = env ?? {
    XDG_CONFIG_HOME: readEnv("XDG_CONFIG_HOME"),
    HOME: readEnv("HOME"),
  };
  if (xdg) return `${xdg.replace(/\/+$/, "")}/blit/id_ed25519`;
  if (home) return `${home.replace(/\/+$/, "")}/.config/blit/id_ed25519`;
  throw new TypeError(
    "Cannot find the default key path: neither XDG_CONFIG_HOME nor HOME is set; " +
      "name the key file explicitly",
  );
}

/**
 * Chooses the key file a client uses: `--identity PATH`, else `BLIT_IDENTITY`, else the
 * default (then `explicit` is false: a missing default key means "anonymous", a missing named
 * one is an error).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { resolveIdentityPath } from "./identity.ts";
 * deepStrictEqual(resolveIdentityPath("/k", { BLIT_IDENTITY: "/e" }), { path: "/k", explicit: true });
 * deepStrictEqual(resolveIdentityPath(undefined, { BLIT_IDENTITY: "/e" }), {
 *   path: "/e",
 *   explicit: true,
 * });
 * deepStrictEqual(resolveIdentityPath(undefined, { HOME: "/home/a" }), {
 *   path: "/home/a/.config/blit/id_ed25519",
 *   explicit: false,
 * });
 * ```
 *
 * @param flag The value of `--identity`, if given.
 * @param env The variables to use (default: the process environment, where readable).
 * @throws {TypeError} If the flag is empty, or no path is named and neither `XDG_CONFIG_HOME`
 *   nor `HOME` is set.
 * @returns The path and whether the user named it.
 */
export function resolveIdentityPath(
  flag: string | undefined,
  env?: { BLIT_IDENTITY?: string; XDG_CONFIG_HOME?: string; HOME?: string },
): { path: string; explicit: boolean } {
  if (flag !== undefined) {
    if (flag === "") throw new TypeError(`Cannot use key "": give the path of a key file`);
    return { path: flag, explicit: true };
  }
  const vars = env ?? {
    BLIT_IDENTITY: readEnv("BLIT_IDENTITY"),
    XDG_CONFIG_HOME: readEnv("XDG_CONFIG_HOME"),
    HOME: readEnv("HOME"),
  };
  if (vars.BLIT_IDENTITY) return { path: vars.BLIT_IDENTITY, explicit: true };
  const defaults: { XDG_CONFIG_HOME?: string; HOME?: string } = {};
  if (vars.XDG_CONFIG_HOME !== undefined) defaults.XDG_CONFIG_HOME = vars.XDG_CONFIG_HOME;
  if (vars.HOME !== undefined) defaults.HOME = vars.HOME;
  return { path: defaultIdentityPath(defaults), explicit: false };
}

/**
 * Generates a key pair in memory.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { generateIdentity, parsePublicKey } from "./identity.ts";
 * const { privatePem, publicLine, publicKey } = await generateIdentity("alice@laptop");
 * strictEqual(privatePem.startsWith("-----BEGIN PRIVATE KEY-----\n"), true);
 * strictEqual(publicLine.endsWith(" alice@laptop"), true);
 * strictEqual(parsePublicKey(publicLine).raw.length, publicKey.length);
 * ```
 *
 * @param comment The comment of the public line.
 * @returns The private key as PKCS#8 PEM (ends with a newline), the public line (no newline)
 *   and the 32 raw public bytes.
 */
export async function generateIdentity(
  comment: string,
): Promise<{ privatePem: string; publicLine: string; publicKey: Uint8Array }> {
  const pair = await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"]) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return {
    privatePem: toPem(pkcs8),
    publicLine: formatPublicKey(publicKey, comment),
    publicKey,
  };
}

/**
 * Generates a key pair and writes it: the private key as PKCS#8 PEM at `path` (mode 0600; the
 * directory is created with mode 0700 when missing), the public line at `path.pub`. Neither
 * file is replaced without `force`.
 *
 * Requires `--allow-write` and `--allow-read` for the directory; the default comment also
 * reads `USER`/`LOGNAME` and the host name where permitted.
 *
 * @example Usage
 * ```ts ignore
 * import { writeIdentity } from "./identity.ts";
 * const { publicLine, fingerprint } = await writeIdentity("/home/a/.config/blit/id_ed25519");
 * console.log(publicLine, fingerprint);
 * ```
 *
 * @param path Where the private key goes.
 * @param options `force` replaces existing files; `comment` defaults to `user@host` (or
 *   `"blit"` when neither is known).
 * @throws {Deno.errors.AlreadyExists} If either file exists and `force` is not set.
 * @returns The two paths, the fingerprint and the public line.
 */
export async function writeIdentity(
  path: string,
  options?: { force?: boolean; comment?: string },
): Promise<{ path: string; publicPath: string; fingerprint: string; publicLine: string }> {
  const { force = false, comment = defaultComment() } = options ?? {};
  const publicPath = `${path}.pub`;
  if (!force) {
    for (const file of [path, publicPath]) {
      if (await exists(file)) throw alreadyExists(file);
    }
  }
  const slash = path.lastIndexOf("/");
  const dir = slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
  if (!(await exists(dir))) {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
  }
  const { privatePem, publicLine, publicKey } = await generateIdentity(comment);
  await writeNew(path, privatePem, 0o600, force);
  await writeNew(publicPath, `${publicLine}\n`, 0o644, force);
  return { path, publicPath, fingerprint: await keyFingerprint(publicKey), publicLine };
}

/**
 * Loads a private key written by {@linkcode writeIdentity} (or any PKCS#8 PEM Ed25519 key). A
 * file that group or others may access is refused, as OpenSSH does. The comment is read from
 * `path.pub` when that file holds the matching public key.
 *
 * Requires `--allow-read` for the file.
 *
 * @example Usage
 * ```ts ignore
 * import { loadIdentity, signBytes } from "./identity.ts";
 * const identity = await loadIdentity("/home/a/.config/blit/id_ed25519");
 * const signature = await signBytes(identity, new TextEncoder().encode("hello"));
 * ```
 *
 * @param path The private key file.
 * @throws {IdentityError} If the file is missing (`reason` "missing"), has any group or other
 *   permission bit ("mode"), is not a PKCS#8 Ed25519 key ("invalid"), or cannot be read
 *   ("unreadable").
 * @returns The identity.
 */
export async function loadIdentity(path: string): Promise<Identity> {
  const quoted = JSON.stringify(path);
  let info: Deno.FileInfo;
  let text: string;
  try {
    info = await Deno.stat(path);
    if (!info.isFile) {
      throw new IdentityError(
        "invalid",
        path,
        `Cannot use key ${quoted}: it is not a file; give the path of a private key file`,
      );
    }
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o7777).toString(8).padStart(4, "0");
      throw new IdentityError(
        "mode",
        path,
        `Cannot use key ${quoted}: it is readable by group or others (mode ${mode}); ` +
          `run chmod 600 ${quoted}`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof IdentityError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new IdentityError(
        "missing",
        path,
        `Cannot read key ${quoted}: the file does not exist; create one with blit keygen`,
        { cause: error },
      );
    }
    throw new IdentityError(
      "unreadable",
      path,
      `Cannot read key ${quoted}: ${firstLine(error)}; check its owner and permissions`,
      { cause: error },
    );
  }
  const invalid = (): IdentityError =>
    new IdentityError(
      "invalid",
      path,
      `Cannot use key ${quoted}: it is not an Ed25519 private key in PKCS#8 PEM; ` +
        "create one with blit keygen",
    );
  const der = fromPem(text);
  if (der === null) throw invalid();
  let publicKey: Uint8Array;
  let privateKey: CryptoKey;
  try {
    const extractable = await crypto.subtle.importKey("pkcs8", der, ED25519, true, ["sign"]);
    const jwk = await crypto.subtle.exportKey("jwk", extractable);
    if (typeof jwk.x !== "string") throw invalid();
    publicKey = Uint8Array.fromBase64(jwk.x, { alphabet: "base64url" });
    privateKey = await crypto.subtle.importKey("pkcs8", der, ED25519, false, ["sign"]);
  } catch (error) {
    if (error instanceof IdentityError) throw error;
    throw invalid();
  }
  return { path, privateKey, publicKey, comment: await readComment(`${path}.pub`, publicKey) };
}

/**
 * Parses a public-key line: `blit-ed25519 <base64 of 32 bytes> [comment]` or OpenSSH's
 * `ssh-ed25519 <base64 wire blob> [comment]` (the blob is the string `ssh-ed25519` and the
 * 32-byte key, each prefixed with its 4-byte big-endian length).
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { parsePublicKey } from "./identity.ts";
 * const line = `blit-ed25519 ${new Uint8Array(32).fill(7).toBase64()} alice@laptop`;
 * strictEqual(parsePublicKey(line).comment, "alice@laptop");
 * strictEqual(parsePublicKey(line).raw[0], 7);
 * throws(() => parsePublicKey("ssh-rsa AAAA"), TypeError);
 * ```
 *
 * @param line The line (surrounding white space is ignored).
 * @throws {TypeError} If the type is not one of the two, the key is not base64, the blob is
 *   malformed or the key is not 32 bytes.
 * @returns The raw key and the comment.
 */
export function parsePublicKey(line: string): PublicKey {
  const text = line.trim();
  const fail = (why: string): TypeError => {
    const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
    return new TypeError(
      `Cannot read public key ${
        JSON.stringify(shown)
      }: ${why}; give a blit-ed25519 or ssh-ed25519 line`,
    );
  };
  const match = /^(\S+)(?:\s+(\S+))?(?:\s+([\s\S]*))?$/.exec(text);
  if (text === "" || match === null) throw fail("it is empty");
  const type = match[1] as string;
  const data = match[2];
  const comment = (match[3] ?? "").trim();
  if (type !== BLIT_KEY_TYPE && type !== SSH_KEY_TYPE) {
    throw fail(`the key type ${JSON.stringify(type)} is not supported`);
  }
  if (data === undefined) throw fail("the key is missing after the type");
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.fromBase64(data, { lastChunkHandling: "strict" });
  } catch {
    throw fail("the key is not valid base64");
  }
  if (type === BLIT_KEY_TYPE) {
    if (bytes.length !== PUBLIC_KEY_BYTES) {
      throw fail(`the key is ${bytes.length} bytes long, not ${PUBLIC_KEY_BYTES}`);
    }
    return { raw: bytes, comment };
  }
  return { raw: readSshBlob(bytes, fail), comment };
}

/**
 * Formats a public key as a `blit-ed25519` line (without a newline). White space in the
 * comment is collapsed to single spaces, so the result is always one line.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatPublicKey } from "./identity.ts";
 * strictEqual(
 *   formatPublicKey(new Uint8Array(32), "a@b"),
 *   "blit-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= a@b",
 * );
 * ```
 *
 * @param raw The 32 raw bytes.
 * @param comment The comment (`""` for none).
 * @throws {TypeError} If `raw` is not 32 bytes long.
 * @returns The line.
 */
export function formatPublicKey(raw: Uint8Array, comment: string): string {
  if (raw.length !== PUBLIC_KEY_BYTES) {
    throw new TypeError(
      `Cannot format public key: it is ${raw.length} bytes long, not ${PUBLIC_KEY_BYTES}; ` +
        "pass the raw Ed25519 key",
    );
  }
  return `${BLIT_KEY_TYPE} ${raw.toBase64()}${commentSuffix(comment)}`;
}

/**
 * Formats a public key as an OpenSSH `ssh-ed25519` line (the form `~/.ssh/*.pub` files hold).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { formatSshPublicKey, parsePublicKey } from "./identity.ts";
 * const raw = new Uint8Array(32).fill(1);
 * deepStrictEqual(parsePublicKey(formatSshPublicKey(raw, "me")), { raw, comment: "me" });
 * ```
 *
 * @param raw The 32 raw bytes.
 * @param comment The comment (`""` for none).
 * @throws {TypeError} If `raw` is not 32 bytes long.
 * @returns The line.
 */
export function formatSshPublicKey(raw: Uint8Array, comment: string): string {
  formatPublicKey(raw, comment); // validates the length
  const type = encoder.encode(SSH_KEY_TYPE);
  const blob = new Uint8Array(4 + type.length + 4 + raw.length);
  const view = new DataView(blob.buffer);
  view.setUint32(0, type.length);
  blob.set(type, 4);
  view.setUint32(4 + type.length, raw.length);
  blob.set(raw, 8 + type.length);
  return `${SSH_KEY_TYPE} ${blob.toBase64()}${commentSuffix(comment)}`;
}

/** The comment as it ends a key line: white space collapsed, after one space (or nothing). */
function commentSuffix(comment: string): string {
  const text = comment.replace(/\s+/g, " ").trim();
  return text === "" ? "" : ` ${text}`;
}

/**
 * Signs bytes with an identity's private key.
 *
 * @example Usage
 * ```ts ignore
 * import { loadIdentity, signBytes, verifySignature } from "./identity.ts";
 * const identity = await loadIdentity("/home/a/.config/blit/id_ed25519");
 * const data = new TextEncoder().encode("hello");
 * const signature = await signBytes(identity, data);
 * console.log(await verifySignature(identity.publicKey, data, signature)); // true
 * ```
 *
 * @param identity The identity.
 * @param bytes What to sign.
 * @returns The 64-byte signature.
 */
export async function signBytes(identity: Identity, bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign(ED25519, identity.privateKey, own(bytes)));
}

/**
 * Checks an Ed25519 signature. Never throws: a key or signature of the wrong length, or a key
 * that is not a valid point, gives `false`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { verifySignature } from "./identity.ts";
 * strictEqual(await verifySignature(new Uint8Array(31), new Uint8Array(1), new Uint8Array(64)), false);
 * ```
 *
 * @param publicKey The 32 raw bytes of the public key.
 * @param bytes The signed bytes.
 * @param signature The signature.
 * @returns Whether the signature is valid.
 */
export async function verifySignature(
  publicKey: Uint8Array,
  bytes: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    const key = await crypto.subtle.importKey("raw", own(publicKey), ED25519, false, ["verify"]);
    return await crypto.subtle.verify(ED25519, key, own(signature), own(bytes));
  } catch {
    return false;
  }
}

/**
 * The fingerprint of a public key: `SHA256:` and the unpadded base64 of the SHA-256 of the 32
 * raw bytes.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { keyFingerprint } from "./identity.ts";
 * strictEqual(
 *   await keyFingerprint(new Uint8Array(32)),
 *   "SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU",
 * );
 * ```
 *
 * @param raw The 32 raw bytes.
 * @returns The fingerprint.
 */
export async function keyFingerprint(raw: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", own(raw)));
  return `SHA256:${digest.toBase64({ omitPadding: true })}`;
}

/** A copy backed by a plain `ArrayBuffer`, as WebCrypto's types ask. */
function own(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

function readSshBlob(blob: Uint8Array, fail: (why: string) => TypeError): Uint8Array {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  let at = 0;
  const field = (what: string): Uint8Array => {
    if (at + 4 > blob.length) throw fail(`the ssh-ed25519 blob ends before its ${what}`);
    const length = view.getUint32(at);
    if (at + 4 + length > blob.length) {
      throw fail(`the ssh-ed25519 blob ends inside its ${what}`);
    }
    const bytes = blob.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    return bytes;
  };
  const type = decoder.decode(field("key type"));
  if (type !== SSH_KEY_TYPE) {
    throw fail(`the blob holds a ${JSON.stringify(type)} key, not ${SSH_KEY_TYPE}`);
  }
  const raw = field("key");
  if (raw.length !== PUBLIC_KEY_BYTES) {
    throw fail(`the key in the blob is ${raw.length} bytes long, not ${PUBLIC_KEY_BYTES}`);
  }
  if (at !== blob.length) throw fail("the ssh-ed25519 blob has extra bytes after the key");
  return raw.slice();
}

function toPem(der: Uint8Array): string {
  const base64 = der.toBase64();
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `${PEM_BEGIN}\n${lines.join("\n")}\n${PEM_END}\n`;
}

function fromPem(text: string): Uint8Array<ArrayBuffer> | null {
  const begin = text.indexOf(PEM_BEGIN);
  const end = text.indexOf(PEM_END);
  if (begin < 0 || end < begin) return null;
  const body = text.slice(begin + PEM_BEGIN.length, end).replace(/\s+/g, "");
  try {
    return Uint8Array.fromBase64(body);
  } catch {
    return null;
  }
}

async function readComment(publicPath: string, publicKey: Uint8Array): Promise<string> {
  try {
    const parsed = parsePublicKey(await Deno.readTextFile(publicPath));
    return parsed.raw.every((byte, i) => byte === publicKey[i]) ? parsed.comment : "";
  } catch {
    return "";
  }
}

async function writeNew(path: string, text: string, mode: number, force: boolean): Promise<void> {
  if (!force) {
    try {
      await Deno.writeFile(path, encoder.encode(text), { createNew: true, mode });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) throw alreadyExists(path);
      throw error;
    }
    await Deno.chmod(path, mode); // the umask may have removed bits from `mode`
    return;
  }
  // Replace atomically: a new file with the right mode from the start, renamed over the old.
  const temporary = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeFile(temporary, encoder.encode(text), { createNew: true, mode });
    await Deno.chmod(temporary, mode);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

function alreadyExists(path: string): Deno.errors.AlreadyExists {
  return new Deno.errors.AlreadyExists(
    `Cannot write key ${JSON.stringify(path)}: it already exists; pass --force to replace it`,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function defaultComment(): string {
  const user = readEnv("USER") || readEnv("LOGNAME");
  let host = "";
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") {
      host = Deno.hostname();
    }
  } catch { /* no host name */ }
  return user && host ? `${user}@${host}` : "blit";
}

function readEnv(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split("\n")[0] ?? "").trim();
}
