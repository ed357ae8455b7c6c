/**
 * `blit keygen`: creates the Ed25519 key pair that identifies this user to daemons.
 *
 * @module
 */

import { absolutePath } from "../core/endpoint.ts";
import { UsageError } from "../core/errors.ts";
import { resolveIdentityPath, writeIdentity } from "../core/identity.ts";
import { explainArgs } from "../cmdline/explain_args.ts";
import { parseArgs } from "../cmdline/parse_args.ts";

/** Help of `blit keygen`. */
export const KEYGEN_HELP = `Usage: blit keygen [--output PATH] [--force] [--comment TEXT] [--json]

Creates an Ed25519 key pair: the private key (PKCS#8 PEM, mode 0600) at PATH and the
public key, one "blit-ed25519 …" line, at PATH.pub. Give that line to a daemon's
administrator, who adds it to a [[user]] of the daemon's configuration.
  --output PATH   where the private key goes (default $XDG_CONFIG_HOME/blit/id_ed25519,
                  else ~/.config/blit/id_ed25519; BLIT_IDENTITY is not used here)
  --force         replace existing key files
  --comment TEXT  comment of the public key (default user@host)
  --json          print {"private_path", "public_path", "public_line", "fingerprint"}
`;

/**
 * Runs `blit keygen`.
 *
 * Requires `--allow-read`, `--allow-write` (the key files), `--allow-env` (`XDG_CONFIG_HOME`,
 * `HOME`, `USER`) and `--allow-sys=hostname` for the default comment.
 *
 * @example Usage
 * ```ts ignore
 * import { runKeygen } from "./keygen.ts";
 * Deno.exitCode = await runKeygen(["--output", "/tmp/k", "--json"]);
 * ```
 *
 * @param args Arguments after `keygen`.
 * @throws {UsageError} For unknown flags, extra arguments or an empty value.
 * @throws {Deno.errors.AlreadyExists} If a key file exists and `--force` is not given.
 * @returns The exit code.
 */
export async function runKeygen(args: string[]): Promise<number> {
  const { values, positionals } = explainArgs("blit keygen", () =>
    parseArgs({
      args,
      options: {
        output: { type: "string" },
        force: { type: "boolean" },
        comment: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    }));
  if (values.help) {
    console.log(KEYGEN_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(
      `Cannot use extra argument "${positionals[0]}": name the key file with --output PATH`,
    );
  }
  if (values.output === "") {
    throw new UsageError(`Cannot use --output "": give the path of the private key file`);
  }
  let path: string;
  try {
    path = resolveIdentityPath(values.output, {
      ...optionalEnv("XDG_CONFIG_HOME"),
      ...optionalEnv("HOME"),
    }).path;
  } catch {
    throw new UsageError(
      "Cannot choose where the key goes: neither XDG_CONFIG_HOME nor HOME is set; " +
        "pass --output PATH",
    );
  }
  const options: { force: boolean; comment?: string } = { force: values.force ?? false };
  if (values.comment !== undefined) options.comment = values.comment;
  const written = await writeIdentity(absolutePath(path), options);
  if (values.json) {
    console.log(JSON.stringify({
      private_path: written.path,
      public_path: written.publicPath,
      public_line: written.publicLine,
      fingerprint: written.fingerprint,
    }));
  } else {
    console.log(`private key: ${written.path}`);
    console.log(`public key:  ${written.publicPath}`);
    console.log(written.publicLine);
    console.log(`fingerprint: ${written.fingerprint}`);
  }
  return 0;
}

/** `{ NAME: value }` when the variable is set (and readable), else `{}`. */
function optionalEnv<N extends string>(name: N): { [K in N]?: string } {
  try {
    const value = Deno.env.get(name);
    return value === undefined ? {} : { [name]: value } as { [K in N]?: string };
  } catch {
    return {};
  }
}
