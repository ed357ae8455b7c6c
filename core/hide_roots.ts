/**
 * What a peer may read of a daemon's paths: nothing above an export. {@linkcode hideRoots}
 * rewrites a message so that it names paths relative to the export (the module) instead of the
 * daemon's absolute ones; the daemon applies it to every text it sends a client.
 *
 * @module
 */

/** Characters after a root that end a path in a message (quotes, spaces, punctuation). */
const PATH_END = /["'`\s:,;)\]}…]/;

/** Longest path the messages quote before cutting it with "…" (`quotePath` in `errors.ts`). */
const QUOTED_MAX = 200;

/** Rewrites a message: see {@linkcode hideRoots}. */
export type HideRoots = (text: string) => string;

/**
 * Makes a function that rewrites messages so that they name no path at or under any of `roots`
 * absolutely: `ROOT/a/b` becomes `a/b` and `ROOT` itself becomes `.`; `ROOT2` (another name that
 * merely starts like a root) is left alone. The roots are tried in the order given (put the
 * export the message concerns first), each as written and as `JSON.stringify` escapes it; a
 * root of `/` hides nothing (every path is already what a client may see).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { hideRoots } from "./hide_roots.ts";
 * const hide = hideRoots(["/srv/m"]);
 * strictEqual(hide("Not a directory (os error 20): readdir '/srv/m/a/lnk'"), "Not a directory (os error 20): readdir 'a/lnk'");
 * strictEqual(hide('Cannot resolve path "x" under "/srv/m": too many links'), 'Cannot resolve path "x" under ".": too many links');
 * strictEqual(hide("open '/srv/m2/a'"), "open '/srv/m2/a'");
 * ```
 *
 * @param roots Absolute paths of exports (trailing slashes ignored).
 * @returns The rewriting function.
 */
export function hideRoots(roots: readonly string[]): HideRoots {
  const forms: string[] = [];
  for (const root of roots) {
    const trimmed = root.replace(/\/+$/, "");
    if (trimmed === "" || !trimmed.startsWith("/")) continue;
    const escaped = JSON.stringify(trimmed).slice(1, -1);
    for (const form of escaped === trimmed ? [trimmed] : [trimmed, escaped]) {
      if (!forms.includes(form)) forms.push(form);
    }
  }
  return (text: string): string => {
    let out = text;
    for (const form of forms) {
      out = hideOne(out, form);
      if (form.length >= QUOTED_MAX) out = out.split(`${form.slice(0, QUOTED_MAX)}…`).join("…");
    }
    return out;
  };
}

/** Replaces every occurrence of `root` as a whole path or a path prefix. */
function hideOne(text: string, root: string): string {
  let out = "";
  let from = 0;
  for (;;) {
    const at = text.indexOf(root, from);
    if (at < 0) return out + text.slice(from);
    const after = at + root.length;
    const next = text[after];
    if (next === "/") {
      const following = text[after + 1];
      const bare = following === undefined || PATH_END.test(following) || following === "/";
      out += text.slice(from, at) + (bare ? "." : "");
      from = after + 1;
    } else if (next === undefined || PATH_END.test(next)) {
      out += `${text.slice(from, at)}.`;
      from = after;
    } else {
      out += text.slice(from, after); // another name that starts like the root
      from = after;
    }
  }
}
