/**
 * The encoded size of each protobuf message this process received, recorded where messages are
 * decoded (`grpc_service.ts`) and read where frames are queued (`stream_port.ts`, which counts its
 * inbound caps in bytes). A module of its own so that the frame port does not load grpc-js.
 *
 * @module
 */

const sizes = new WeakMap<object, number>();

/**
 * Records the encoded size of a decoded message.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { recordWireSize, wireSizeOf } from "./wire_size.ts";
 * const message = {};
 * recordWireSize(message, 42);
 * strictEqual(wireSizeOf(message), 42);
 * ```
 *
 * @param message The decoded message.
 * @param bytes Its size on the wire.
 */
export function recordWireSize(message: object, bytes: number): void {
  sizes.set(message, bytes);
}

/**
 * The encoded size of a received message (`undefined` for one made in this process).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { wireSizeOf } from "./wire_size.ts";
 * strictEqual(wireSizeOf({}), undefined);
 * ```
 *
 * @param message A decoded message.
 * @returns Its size on the wire in bytes, when known.
 */
export function wireSizeOf(message: object): number | undefined {
  return sizes.get(message);
}
