/**
 * The constants both ends of a blit connection agree on, in a module of their own so that a
 * client's transfer path loads neither grpc-js nor HTTP/2.
 *
 * @module
 */

/**
 * Version of the control protocol spoken by this build (`Hello` / `Accept.protocol_version`).
 * 4: the daemon answers a data-plane connection whose token it accepted with one byte
 * (`TOKEN_ACCEPTED` in `data_plane.ts`) before any record. 5: a shard is its members' bytes back
 * to back (no tar headers; `transport/shard.ts`). 6: a transfer session is length-prefixed
 * frames on the control port after {@linkcode TRANSFER_PREFACE} (`transport/frame_stream.ts`),
 * not a gRPC call. 7: a delta ends with the digest of its pieces, not of the whole file
 * (`delta/encode_delta.ts`).
 */
export const PROTOCOL_VERSION = 7;

/**
 * Largest protobuf message either side sends or accepts: grpc-js fails a call that carries a
 * bigger one with `RESOURCE_EXHAUSTED` before it is decoded, and a framed transfer connection
 * closes before it allocates one.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * The first bytes a client sends on the control port to open a transfer session (after TLS,
 * when TLS is on). Every other connection is HTTP/2 for the gRPC services, whose client preface
 * starts with `PRI * HTTP/2.0`; the two differ in the first byte.
 */
export const TRANSFER_PREFACE: Uint8Array = new TextEncoder().encode("BLIT-TRANSFER/6\r\n\r\n");

/**
 * How long a transfer connection whose side ended waits for the peer to close before it closes:
 * a peer that never hangs up holds no descriptor.
 */
export const CLOSE_GRACE_MS = 10_000;
