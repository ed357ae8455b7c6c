import { deepStrictEqual as assertEquals, match, strictEqual } from "node:assert/strict";
import { readKnownHosts, recordKnownHost } from "../core/known_hosts.ts";
import { certificateFingerprint, generateServerCertificate, pemToDer } from "../core/tls_cert.ts";
import { assertNoStack, runBlitAllowAll, withTempDir } from "./_helpers.ts";

/** Runs the real CLI as a user of the sources would: `deno run -A cli/main.ts ARGS`. */
const blit = runBlitAllowAll;

/** Pins one certificate for each `[host, port]` in `path`; returns the fingerprint. */
async function pin(path: string, hosts: [string, number][]): Promise<string> {
  const certificate = pemToDer((await generateServerCertificate()).certPem);
  const fingerprint = await certificateFingerprint(certificate);
  for (const [host, port] of hosts) {
    await recordKnownHost(path, { host, port, fingerprint, certificate });
  }
  return fingerprint;
}

Deno.test("blit known-hosts", async (t) => {
  await withTempDir(async (dir) => {
    const path = `${dir}/known_hosts`;
    const fingerprint = await pin(path, [["nas", 9031], ["nas", 9100], ["::1", 9031], [
      "backup.lan",
      9031,
    ]]);

    await t.step("lists the pinned daemons", async () => {
      const result = await blit(["known-hosts", "list", "--known-hosts", path]);
      strictEqual(result.code, 0, result.stderr);
      assertEquals(result.stdout.trimEnd().split("\n"), [
        `nas:9031 ${fingerprint}`,
        `nas:9100 ${fingerprint}`,
        `[::1]:9031 ${fingerprint}`,
        `backup.lan:9031 ${fingerprint}`,
      ]);
      const json = await blit(["known-hosts", "list", "--json"], { BLIT_KNOWN_HOSTS: path });
      strictEqual(json.code, 0, json.stderr);
      assertEquals(JSON.parse(json.stdout)[2], { host: "::1", port: 9031, fingerprint });
    });

    await t.step("forgets one port of a host", async () => {
      const result = await blit(["known-hosts", "forget", "nas:9100", "--known-hosts", path]);
      strictEqual(result.code, 0, result.stderr);
      strictEqual(result.stdout, "forgot 1 entry for nas:9100\n");
      assertEquals((await readKnownHosts(path)).map((e) => `${e.host}:${e.port}`), [
        "nas:9031",
        "::1:9031",
        "backup.lan:9031",
      ]);
    });

    await t.step("forgets every port of a host without :PORT", async () => {
      await pin(path, [["nas", 9200]]);
      const result = await blit(["known-hosts", "forget", "NAS"], { BLIT_KNOWN_HOSTS: path });
      strictEqual(result.code, 0, result.stderr);
      strictEqual(result.stdout, "forgot 2 entries for nas\n");
    });

    await t.step("forgets an IPv6 host in brackets", async () => {
      const result = await blit(["known-hosts", "forget", "[::1]:9031", "--known-hosts", path]);
      strictEqual(result.code, 0, result.stderr);
      strictEqual(result.stdout, "forgot 1 entry for [::1]:9031\n");
      assertEquals((await readKnownHosts(path)).map((e) => e.host), ["backup.lan"]);
    });

    await t.step("exits 1 when nothing matches", async () => {
      const result = await blit([
        "known-hosts",
        "forget",
        "backup.lan:9999",
        "--known-hosts",
        path,
      ]);
      strictEqual(result.code, 1);
      strictEqual(result.stdout, "");
      strictEqual(result.stderr, `no known host backup.lan:9999 in ${path}\n`);
      const missing = await blit(["known-hosts", "forget", "nas", "--known-hosts", `${dir}/none`]);
      strictEqual(missing.code, 1);
      strictEqual(missing.stderr, `no known host nas in ${dir}/none\n`);
    });

    await t.step("uses the default file under XDG_CONFIG_HOME", async () => {
      const home = `${dir}/config`;
      await pin(`${home}/blit/known_hosts`, [["srv", 9031]]);
      const result = await blit(["known-hosts", "list"], { XDG_CONFIG_HOME: home });
      strictEqual(result.code, 0, result.stderr);
      match(result.stdout, /^srv:9031 SHA256:/);
    });

    await t.step("rejects bad arguments with one line", async () => {
      for (
        const [args, pattern] of [
          [["frob"], /^blit: Cannot run known-hosts "frob": the subcommands are "list" and/],
          [["forget"], /^blit: Cannot run blit known-hosts forget: expected HOST\[:PORT\], got 0/],
          [["forget", "nas:0"], /^blit: Cannot parse host "nas:0": port "0" is not 1-65535/],
          [["forget", "a b"], /^blit: Cannot parse host "a b"/],
          [["list", "nas"], /^blit: Cannot use extra argument "nas"/],
          [["list", "--known-hosts", ""], /^blit: Cannot use --known-hosts "": give the path/],
          [["list", "--frob"], /^blit: Cannot use unknown option "--frob"/],
        ] as const
      ) {
        const result = await blit(["known-hosts", ...args], { BLIT_KNOWN_HOSTS: path });
        strictEqual(result.code, 1, result.stderr);
        assertNoStack(result.stderr);
        strictEqual(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
        match(result.stderr, pattern);
      }
      const help = await blit(["known-hosts", "--help"]);
      strictEqual(help.code, 0);
      match(help.stdout, /^Usage: blit known-hosts list/);
    });
  });
});
