import {
  deepStrictEqual as assertEquals,
  match,
  notStrictEqual,
  ok,
  rejects,
  strictEqual,
  throws,
} from "node:assert/strict";
import {
  defaultIdentityPath,
  formatPublicKey,
  formatSshPublicKey,
  generateIdentity,
  IdentityError,
  keyFingerprint,
  loadIdentity,
  parsePublicKey,
  resolveIdentityPath,
  signBytes,
  verifySignature,
  writeIdentity,
} from "../core/identity.ts";
import { assertNoStack, runBlitAllowAll, withTempDir } from "./_helpers.ts";

/** Runs the real CLI as a user of the sources would: `deno run -A cli/main.ts ARGS`. */
const blit = runBlitAllowAll;

async function mode(path: string): Promise<number> {
  return ((await Deno.stat(path)).mode ?? 0) & 0o777;
}

const PUBLIC_LINE_REGEXP = /^blit-ed25519 [A-Za-z0-9+/]{43}= \S.*$/;

Deno.test("blit keygen", async (t) => {
  await withTempDir(async (dir) => {
    await t.step("writes a 0600 private key and a one-line public key", async () => {
      const result = await blit(["keygen", "--output", `${dir}/k`, "--comment", "ann@desk"]);
      strictEqual(result.code, 0, result.stderr);
      strictEqual(result.stderr, "");
      const pem = await Deno.readTextFile(`${dir}/k`);
      match(pem, /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/);
      strictEqual(await mode(`${dir}/k`), 0o600);
      const pub = await Deno.readTextFile(`${dir}/k.pub`);
      strictEqual(pub.split("\n").length, 2, pub);
      strictEqual(pub.endsWith("\n"), true);
      match(pub.trimEnd(), PUBLIC_LINE_REGEXP);
      strictEqual(pub.trimEnd().endsWith(" ann@desk"), true);
      const identity = await loadIdentity(`${dir}/k`);
      strictEqual(identity.comment, "ann@desk");
      assertEquals(parsePublicKey(pub).raw, identity.publicKey);
      const fingerprint = await keyFingerprint(identity.publicKey);
      assertEquals(result.stdout.trimEnd().split("\n"), [
        `private key: ${dir}/k`,
        `public key:  ${dir}/k.pub`,
        pub.trimEnd(),
        `fingerprint: ${fingerprint}`,
      ]);
    });

    await t.step("refuses to replace a key without --force", async () => {
      const before = await Deno.readTextFile(`${dir}/k`);
      const result = await blit(["keygen", "--output", `${dir}/k`]);
      strictEqual(result.code, 1);
      strictEqual(result.stdout, "");
      assertNoStack(result.stderr);
      strictEqual(
        result.stderr,
        `blit: Cannot write key "${dir}/k": it already exists; pass --force to replace it\n`,
      );
      strictEqual(await Deno.readTextFile(`${dir}/k`), before);
      await Deno.remove(`${dir}/k`);
      const pubOnly = await blit(["keygen", "--output", `${dir}/k`]);
      strictEqual(pubOnly.code, 1);
      match(pubOnly.stderr, /Cannot write key ".*\/k\.pub": it already exists/);
      await rejects(Deno.lstat(`${dir}/k`), Deno.errors.NotFound);
    });

    await t.step("replaces both files with --force, keeping mode 0600", async () => {
      await Deno.writeTextFile(`${dir}/k`, "old", { mode: 0o644 });
      const old = await Deno.readTextFile(`${dir}/k.pub`);
      const result = await blit(["keygen", "--output", `${dir}/k`, "--force", "--json"]);
      strictEqual(result.code, 0, result.stderr);
      const json = JSON.parse(result.stdout) as Record<string, string>;
      assertEquals(Object.keys(json), [
        "private_path",
        "public_path",
        "public_line",
        "fingerprint",
      ]);
      strictEqual(json.private_path, `${dir}/k`);
      strictEqual(json.public_path, `${dir}/k.pub`);
      strictEqual(`${json.public_line}\n`, await Deno.readTextFile(`${dir}/k.pub`));
      notStrictEqual(json.public_line, old.trimEnd());
      strictEqual(await mode(`${dir}/k`), 0o600);
      const identity = await loadIdentity(`${dir}/k`);
      strictEqual(json.fingerprint, await keyFingerprint(identity.publicKey));
      const leftovers = [];
      for await (const entry of Deno.readDir(dir)) leftovers.push(entry.name);
      assertEquals(leftovers.sort(), ["k", "k.pub"]);
    });

    await t.step("uses the default path, creating its directory 0700", async () => {
      const home = `${dir}/config`;
      const result = await blit(["keygen"], {
        XDG_CONFIG_HOME: home,
        BLIT_IDENTITY: `${dir}/ignored`,
        USER: "ann",
      });
      strictEqual(result.code, 0, result.stderr);
      strictEqual(await mode(`${home}/blit`), 0o700);
      strictEqual(await mode(`${home}/blit/id_ed25519`), 0o600);
      match(await Deno.readTextFile(`${home}/blit/id_ed25519.pub`), /^blit-ed25519 \S+ ann@\S+\n$/);
      await rejects(Deno.lstat(`${dir}/ignored`), Deno.errors.NotFound);
    });

    await t.step("rejects bad arguments with one line", async () => {
      for (
        const [args, pattern] of [
          [["--frobnicate"], /^blit: Cannot use unknown option "--frobnicate"/],
          [["--output"], /^blit: Cannot use option "--output <value>" without a value/],
          [["--output", ""], /^blit: Cannot use --output "": give the path/],
          [["extra"], /^blit: Cannot use extra argument "extra": name the key file with --output/],
        ] as const
      ) {
        const result = await blit(["keygen", ...args]);
        strictEqual(result.code, 1, result.stderr);
        assertNoStack(result.stderr);
        strictEqual(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
        match(result.stderr, pattern);
      }
      const help = await blit(["keygen", "--help"]);
      strictEqual(help.code, 0);
      match(help.stdout, /^Usage: blit keygen/);
    });
  });
});

Deno.test("loadIdentity()", async (t) => {
  await withTempDir(async (dir) => {
    const { path } = await writeIdentity(`${dir}/id`, { comment: "me" });

    await t.step("loads a key written by writeIdentity()", async () => {
      const identity = await loadIdentity(path);
      strictEqual(identity.path, path);
      strictEqual(identity.publicKey.length, 32);
      strictEqual(identity.comment, "me");
      strictEqual(identity.privateKey.extractable, false);
    });

    await t.step("refuses a key readable by group or others with one line", async () => {
      await Deno.chmod(path, 0o644);
      await rejects(loadIdentity(path), (error: unknown) => {
        ok(error instanceof IdentityError);
        strictEqual(error.reason, "mode");
        strictEqual(
          error.message,
          `Cannot use key "${path}": it is readable by group or others (mode 0644); ` +
            `run chmod 600 "${path}"`,
        );
        return true;
      });
      await Deno.chmod(path, 0o640);
      await rejects(loadIdentity(path), /\(mode 0640\)/);
      await Deno.chmod(path, 0o601);
      await rejects(loadIdentity(path), /\(mode 0601\)/);
      await Deno.chmod(path, 0o400);
      strictEqual((await loadIdentity(path)).publicKey.length, 32);
      await Deno.chmod(path, 0o600);
    });

    await t.step("says how to create a missing key", async () => {
      await rejects(loadIdentity(`${dir}/none`), (error: unknown) => {
        ok(error instanceof IdentityError);
        strictEqual(error.reason, "missing");
        strictEqual(
          error.message,
          `Cannot read key "${dir}/none": the file does not exist; create one with blit keygen`,
        );
        return true;
      });
    });

    await t.step("refuses files that are not a PKCS#8 Ed25519 key", async () => {
      const ec = await crypto.subtle.generateKey(
        { name: "ECDSA", namedCurve: "P-256" },
        true,
        ["sign"],
      ) as CryptoKeyPair;
      const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", ec.privateKey));
      const contents = [
        "not a key\n",
        "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
        `-----BEGIN PRIVATE KEY-----\n${der.toBase64()}\n-----END PRIVATE KEY-----\n`,
      ];
      for (const text of contents) {
        await Deno.writeTextFile(`${dir}/bad`, text, { mode: 0o600 });
        await Deno.chmod(`${dir}/bad`, 0o600);
        await rejects(loadIdentity(`${dir}/bad`), (error: unknown) => {
          ok(error instanceof IdentityError);
          strictEqual(error.reason, "invalid");
          strictEqual(
            error.message,
            `Cannot use key "${dir}/bad": it is not an Ed25519 private key in PKCS#8 PEM; ` +
              "create one with blit keygen",
          );
          return true;
        });
      }
      await rejects(loadIdentity(dir), /it is not a file/);
    });

    await t.step("ignores a .pub file that does not match", async () => {
      await Deno.writeTextFile(`${path}.pub`, `${formatPublicKey(new Uint8Array(32), "other")}\n`);
      strictEqual((await loadIdentity(path)).comment, "");
    });
  });
});

Deno.test("writeIdentity()", async (t) => {
  await withTempDir(async (dir) => {
    await t.step("refuses to overwrite either file without force", async () => {
      await writeIdentity(`${dir}/a`, { comment: "x" });
      await rejects(writeIdentity(`${dir}/a`), (error: unknown) => {
        ok(error instanceof Deno.errors.AlreadyExists);
        strictEqual(
          error.message,
          `Cannot write key "${dir}/a": it already exists; pass --force to replace it`,
        );
        return true;
      });
      const written = await writeIdentity(`${dir}/a`, { force: true, comment: "y" });
      strictEqual(written.publicLine.endsWith(" y"), true);
      strictEqual(written.publicPath, `${dir}/a.pub`);
    });
    await t.step("uses a default comment", async () => {
      const written = await writeIdentity(`${dir}/b`);
      match(written.publicLine, /^blit-ed25519 \S+ \S+$/);
    });
  });
});

Deno.test("parsePublicKey()", async (t) => {
  const raw = new Uint8Array(32).map((_, i) => i * 7);

  await t.step("reads blit-ed25519 lines with and without a comment", () => {
    assertEquals(parsePublicKey(`blit-ed25519 ${raw.toBase64()} a b  c\n`), {
      raw,
      comment: "a b  c",
    });
    assertEquals(parsePublicKey(`  blit-ed25519 ${raw.toBase64()}`), { raw, comment: "" });
  });

  await t.step("reads an ssh-ed25519 line built from a raw key", () => {
    const line = formatSshPublicKey(raw, "ann@laptop");
    match(line, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\S+ ann@laptop$/);
    assertEquals(parsePublicKey(line), { raw, comment: "ann@laptop" });
    assertEquals(
      formatPublicKey(parsePublicKey(line).raw, "ann@laptop"),
      formatPublicKey(raw, "ann@laptop"),
    );
  });

  await t.step("reads a real OpenSSH public key", () => {
    // ssh-keygen -t ed25519 output for a fixed test key (32 bytes 0x01..0x20).
    const key = new Uint8Array(32).map((_, i) => i + 1);
    const blob = new Uint8Array([
      0,
      0,
      0,
      11,
      ...new TextEncoder().encode("ssh-ed25519"),
      0,
      0,
      0,
      32,
      ...key,
    ]);
    assertEquals(parsePublicKey(`ssh-ed25519 ${blob.toBase64()}`).raw, key);
  });

  await t.step("rejects other lines with one line naming the problem", () => {
    const typeWord = new TextEncoder().encode("ssh-ed25519");
    const blob = (type: Uint8Array, key: Uint8Array, extra: number[] = []): string => {
      const out = new Uint8Array(8 + type.length + key.length + extra.length);
      const view = new DataView(out.buffer);
      view.setUint32(0, type.length);
      out.set(type, 4);
      view.setUint32(4 + type.length, key.length);
      out.set(key, 8 + type.length);
      out.set(extra, 8 + type.length + key.length);
      return out.toBase64();
    };
    const cases: [string, RegExp][] = [
      ["", /it is empty/],
      ["   ", /it is empty/],
      ["ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ", /the key type "ssh-rsa" is not supported/],
      ["blit-ed25519", /the key is missing after the type/],
      ["blit-ed25519 !!!!", /the key is not valid base64/],
      [`blit-ed25519 ${new Uint8Array(31).toBase64()}`, /the key is 31 bytes long, not 32/],
      [`ssh-ed25519 ${raw.toBase64()}`, /ssh-ed25519 blob/],
      [
        `ssh-ed25519 ${blob(new TextEncoder().encode("ssh-rsa"), raw)}`,
        /the blob holds a "ssh-rsa" key, not ssh-ed25519/,
      ],
      [`ssh-ed25519 ${blob(typeWord, raw.subarray(0, 31))}`, /the key in the blob is 31 bytes/],
      [`ssh-ed25519 ${blob(typeWord, raw, [0])}`, /extra bytes after the key/],
      [`ssh-ed25519 ${blob(typeWord, new Uint8Array(0)).slice(0, 8)}`, /ssh-ed25519 blob ends/],
    ];
    for (const [line, pattern] of cases) {
      throws(() => parsePublicKey(line), (error: unknown) => {
        ok(error instanceof TypeError);
        const shown = line.trim().length > 40 ? `${line.trim().slice(0, 40)}…` : line.trim();
        strictEqual(
          error.message.startsWith(`Cannot read public key ${JSON.stringify(shown)}: `),
          true,
          error.message,
        );
        strictEqual(error.message.includes("\n"), false);
        strictEqual(
          error.message.endsWith("; give a blit-ed25519 or ssh-ed25519 line"),
          true,
          error.message,
        );
        match(error.message, pattern);
        return true;
      });
    }
  });
});

Deno.test("formatPublicKey()", async (t) => {
  await t.step("collapses white space in the comment and checks the length", () => {
    strictEqual(
      formatPublicKey(new Uint8Array(32), " a \n b "),
      `blit-ed25519 ${new Uint8Array(32).toBase64()} a b`,
    );
    throws(() => formatPublicKey(new Uint8Array(31), ""), /31 bytes long, not 32/);
  });
});

Deno.test("signBytes() and verifySignature()", async (t) => {
  await withTempDir(async (dir) => {
    await writeIdentity(`${dir}/id`, { comment: "signer" });
    const identity = await loadIdentity(`${dir}/id`);
    const data = new TextEncoder().encode("blit-auth-v1 transcript");

    await t.step("round-trips a signature", async () => {
      const signature = await signBytes(identity, data);
      strictEqual(signature.length, 64);
      strictEqual(await verifySignature(identity.publicKey, data, signature), true);
    });

    await t.step("fails for a tampered byte, signature or key", async () => {
      const signature = await signBytes(identity, data);
      const tampered = data.slice();
      tampered[3] = (tampered[3] as number) ^ 1;
      strictEqual(await verifySignature(identity.publicKey, tampered, signature), false);
      const badSignature = signature.slice();
      badSignature[10] = (badSignature[10] as number) ^ 0x80;
      strictEqual(await verifySignature(identity.publicKey, data, badSignature), false);
      const other = await generateIdentity("other");
      strictEqual(await verifySignature(other.publicKey, data, signature), false);
    });

    await t.step("never throws on bad input", async () => {
      const signature = await signBytes(identity, data);
      strictEqual(await verifySignature(new Uint8Array(0), data, signature), false);
      strictEqual(await verifySignature(identity.publicKey, data, signature.subarray(1)), false);
      strictEqual(await verifySignature(new Uint8Array(32).fill(0xff), data, signature), false);
      strictEqual(await verifySignature(identity.publicKey, data, new Uint8Array(64)), false);
    });
  });
});

Deno.test("keyFingerprint()", async (t) => {
  await t.step("is SHA256: and unpadded base64 of the raw key's digest", async () => {
    const raw = new Uint8Array(32).fill(5);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
    strictEqual(await keyFingerprint(raw), `SHA256:${digest.toBase64({ omitPadding: true })}`);
    match(await keyFingerprint(raw), /^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});

Deno.test("defaultIdentityPath() and resolveIdentityPath()", async (t) => {
  await t.step("prefer XDG_CONFIG_HOME, then HOME", () => {
    strictEqual(defaultIdentityPath({ XDG_CONFIG_HOME: "/x/", HOME: "/h" }), "/x/blit/id_ed25519");
    strictEqual(
      defaultIdentityPath({ XDG_CONFIG_HOME: "", HOME: "/h" }),
      "/h/.config/blit/id_ed25519",
    );
    throws(() => defaultIdentityPath({}), /neither XDG_CONFIG_HOME nor HOME is set/);
  });
  await t.step("prefer the flag, then BLIT_IDENTITY, then the default", () => {
    const env = { BLIT_IDENTITY: "/env/key", HOME: "/h" };
    assertEquals(resolveIdentityPath("/flag/key", env), { path: "/flag/key", explicit: true });
    assertEquals(resolveIdentityPath(undefined, env), { path: "/env/key", explicit: true });
    assertEquals(resolveIdentityPath(undefined, { BLIT_IDENTITY: "", HOME: "/h" }), {
      path: "/h/.config/blit/id_ed25519",
      explicit: false,
    });
    throws(() => resolveIdentityPath("", env), /Cannot use key ""/);
  });
});
