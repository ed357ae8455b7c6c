/**
 * blit: fast, safe copy, mirror and move of file trees, locally and through blit daemons.
 *
 * @module
 */
export * from "./core/mod.ts";
