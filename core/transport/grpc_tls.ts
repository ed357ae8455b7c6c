/**
 * The grpc-js side of the client's TLS (the admin calls and `blit-utils`): channel credentials
 * with the same trust rule as `tls_client.ts` (a pinned certificate, or a CA and the host name),
 * and the name override Deno needs for IP targets. A module of its own so that a transfer, which
 * does not use gRPC, does not load grpc-js.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import * as tls from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { derToPem } from "../pem.ts";
import { pinCheck, type TlsVerify, unbracket } from "./tls_client.ts";

/** Suffix of the names {@linkcode grpcChannelOptions} invents for IP targets. */
const IP_NAME_SUFFIX = ".ip.blit.invalid";

/**
 * The grpc-js credentials for a daemon, with the same trust rule as {@linkcode connectTls}. Pass
 * {@linkcode grpcChannelOptions} too: IP targets need it under Deno.
 *
 * @example Usage
 * ```ts ignore
 * import { BlitClientClass, blitChannelOptions } from "./grpc_service.ts";
 * import { grpcChannelCredentials, grpcChannelOptions, type TlsVerify } from "./grpc_tls.ts";
 * declare const verify: TlsVerify;
 * const client = new BlitClientClass("127.0.0.1:9031", grpcChannelCredentials(verify), {
 *   ...blitChannelOptions(),
 *   ...grpcChannelOptions(verify, "127.0.0.1"),
 * });
 * ```
 *
 * @param verify How the certificate is trusted.
 * @returns Channel credentials for `new BlitClientClass(address, credentials, options)`.
 */
export function grpcChannelCredentials(verify: TlsVerify): grpc.ChannelCredentials {
  if (verify.kind === "pin") {
    return grpc.credentials.createSsl(Buffer.from(derToPem(verify.certificate)), null, null, {
      checkServerIdentity: pinCheck(
        verify.fingerprint,
        (actual, hostname) =>
          new Error(
            `Cannot trust ${
              decodeTargetName(hostname)
            }: it presented certificate ${actual}, but ${verify.fingerprint} is pinned for it`,
          ),
      ),
      rejectUnauthorized: true,
    });
  }
  return grpc.credentials.createSsl(Buffer.from(verify.caPem), null, null, {
    checkServerIdentity: caCheck,
    rejectUnauthorized: true,
  });
}

/**
 * Channel options the TLS credentials need for `host`: for an IP address, a
 * `grpc.ssl_target_name_override` (Deno refuses grpc-js's IP `servername`); nothing for a name.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { grpcChannelOptions } from "./grpc_tls.ts";
 * const verify = { kind: "ca" as const, caPem: "" };
 * deepStrictEqual(grpcChannelOptions(verify, "backup.lan"), {});
 * deepStrictEqual(grpcChannelOptions(verify, "10.0.0.5"), {
 *   "grpc.ssl_target_name_override": "10-0-0-5.ip.blit.invalid",
 * });
 * ```
 *
 * @param _verify How the certificate is trusted (the options do not depend on it today).
 * @param host The target's host (IPv6 with or without brackets).
 * @returns Options to merge into the client's channel options.
 */
export function grpcChannelOptions(_verify: TlsVerify, host: string): grpc.ChannelOptions {
  const bare = unbracket(host);
  if (isIP(bare) === 0) return {};
  return { "grpc.ssl_target_name_override": bare.replaceAll(/[.:]/g, "-") + IP_NAME_SUFFIX };
}

/** The host name grpc-js checks against, back to the IP address when it was encoded. */
function decodeTargetName(name: string): string {
  if (!name.endsWith(IP_NAME_SUFFIX)) return name;
  const encoded = name.slice(0, -IP_NAME_SUFFIX.length);
  const v4 = encoded.replaceAll("-", ".");
  if (isIP(v4) === 4) return v4;
  const v6 = encoded.replaceAll("-", ":");
  return isIP(v6) === 6 ? v6 : name;
}

function caCheck(hostname: string, cert: tls.PeerCertificate): Error | undefined {
  return tls.checkServerIdentity(decodeTargetName(hostname), cert);
}
