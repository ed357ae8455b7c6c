/**
 * Help texts of `blit`, in a module of their own so that `--help` and `--version` load no
 * engine code.
 *
 * @module
 */

import { SECURITY_HELP } from "../cmdline/security_flags.ts";

/** The version `blit --version` prints. */
export const VERSION = "0.1.0";

/** Help of `blit` without a verb. */
export const HELP = `blit ${VERSION}: fast, safe file transfers

Usage:
  blit copy   [options] SRC DST
  blit mirror [options] SRC DST
  blit move   [options] SRC DST
  blit scan   [--wait SECONDS] [--json]
  blit list   HOST[:PORT] | HOST:/module/path
  blit diagnostics perf [--limit N] [--json] [--clear] [--disable|--enable]
  blit keygen [--output PATH] [--force] [--comment TEXT] [--json]
  blit known-hosts list [--json] | forget HOST[:PORT]   [--known-hosts PATH]

Run "blit copy --help" for the transfer options, "blit VERB --help" for the others.
`;

/** Help text of the transfer verbs. */
export const TRANSFER_HELP = `Usage: blit copy|mirror|move [options] SRC DST

  copy    copy SRC to DST; existing files are replaced when they differ
  mirror  copy, then delete DST entries absent from SRC (after a complete scan)
  move    copy, then remove each SRC file once its copy is verified

SRC/ (trailing slash) copies the contents of SRC into DST. A directory SRC without
a slash lands at DST/<name of SRC>; a file lands there when DST is a directory or
ends with '/', else DST is the file. (rsync's rule.)
One side may be a daemon: host:/module/path, host://path (default root),
host:port:/module/path, [::1]:port:/module/ (default port 9031).

Options:
  -c, --checksum         compare by xxHash3-64 digest when sizes match
      --size-only        compare by size only
  -I, --ignore-times     always transfer
      --ignore-existing  never overwrite existing destination entries
      --exclude GLOB     exclude matching entries (repeatable)
      --include GLOB     include matching entries (repeatable; first match wins)
  -n, --dry-run          show what would change; change nothing
  -v, --verbose          list each action
  -p, --progress         live progress on stderr (default on a terminal)
      --no-progress      no progress line
      --json             print one JSON summary on stdout
  -y, --yes              delete without asking (mirror)
      --max-delete N     mirror: delete nothing if more than N entries would go
  -W, --whole-file       remote: send changed files whole, never as a delta against the
                         destination's old copy (deltas: files of 1 MiB or more)
      --no-resume        do not keep partial files of interrupted large files (8 MiB or
                         more), nor continue from them
      --force-grpc       remote: carry data in the control stream, not the TCP data plane
      --keep-special-bits
                         pull: keep setuid, setgid and sticky bits (a local run keeps
                         them; on a push the daemon's module decides)
  -h, --help             this help

Daemon sessions (sign-in and trust):
${SECURITY_HELP}
`;
