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
  blit copy   [options] SRC... DST
  blit mirror [options] SRC... DST
  blit move   [options] SRC... DST
  blit check  [-c] [--json] [--exclude GLOB] [--include GLOB] SRC DST
  blit scan   [--wait SECONDS] [--json]
  blit list   HOST[:PORT] | HOST:/module/path
  blit diagnostics perf [--limit N] [--json] [--clear] [--disable|--enable]
  blit keygen [--output PATH] [--force] [--comment TEXT] [--json]
  blit known-hosts list [--json] | forget HOST[:PORT]   [--known-hosts PATH]

Run "blit copy --help" for the transfer options, "blit VERB --help" for the others.
`;

/** Help text of the transfer verbs. */
export const TRANSFER_HELP = `Usage: blit copy|mirror|move [options] SRC... DST

  copy    copy SRC to DST; existing files are replaced when they differ
  mirror  copy, then delete DST entries absent from SRC (after a complete scan)
  move    copy, then remove each SRC file once its copy is verified

SRC/ (trailing slash) copies the contents of SRC into DST. A directory SRC without
a slash lands at DST/<name of SRC>; a file lands there when DST is a directory or
ends with '/', else DST is the file. (rsync's rule.)
Several SRCs (all local, or all in one daemon module) go in one session into the
directory DST, each as it would alone: blit copy a b/ c DST/ makes DST/a, the
contents of b and DST/c (the first SRC wins where two hold the same path).
One side may be a daemon: host:/module/path, host://path (default root),
host:port:/module/path, [::1]:port:/module/ (default port 9031).

Options (short flags combine as in rsync: -avP, -avh):
  -a, --archive          accepted: blit always keeps times, modes and links
  -z, --compress         accepted: blit does not compress (deltas cut what travels instead)
  -c, --checksum         compare by xxHash3-64 digest when sizes match
      --size-only        compare by size only
  -I, --ignore-times     always transfer
      --ignore-existing  never overwrite existing destination entries
  -u, --update           leave destination files newer than the source's alone
      --min-size SIZE    leave alone source files smaller than SIZE (K, M, G: 1024-based)
      --max-size SIZE    leave alone source files larger than SIZE
      --exclude GLOB     exclude matching entries (repeatable)
      --include GLOB     include matching entries (repeatable; first match wins)
      --exclude-from FILE, --include-from FILE
                         the same, one pattern per line (# and ; start comments; - is stdin)
      --files-from FILE  transfer only the listed paths (relative to SRC; a listed
                         directory with everything under it)
  -n, --dry-run          show what would change; change nothing
  -v, --verbose          list each action once it is done (on every route)
  -i, --itemize-changes  list each action as rsync's change string: >f.st...... path
  -q, --quiet            print nothing but errors
  -p, --progress         live progress on stderr (default on a terminal)
  -P                     --progress, and keep partial files (blit always does)
      --partial          accepted: partial files of large files are kept (see --no-resume)
      --no-progress      no progress line
      --stats[=DURATION] print transfer statistics at the end (and a line every DURATION)
      --log-file PATH    append the run's actions and summary to PATH, time-stamped
      --json             print one JSON summary on stdout
      --delete           copy: delete DST entries absent from SRC (copy becomes mirror)
      --delete-excluded  mirror: delete excluded DST entries too
  -b, --backup           keep each replaced or deleted file as NAME~ beside it
      --backup-dir DIR   keep them under DIR instead (relative to DST; implies -b)
      --suffix SUFFIX    append SUFFIX to each backup's name (default ~ without --backup-dir)
  -x, --one-file-system  do not cross into other file systems in SRC
  -H, --hard-links       keep hard links: files with several names in SRC get as many names,
                         linked, in DST (their data travels once)
      --no-owner         do not keep numeric owners and groups (kept as root: locally, and
                         through a daemon module with keep_owner = true)
  -y, --yes              delete without asking (mirror)
      --max-delete N     mirror: delete nothing if more than N entries would go
      --bwlimit RATE     most payload per second, local or remote (a bare number is KiB/s;
                         K, M, G are 1024-based)
      --contimeout SECS  remote: give up connecting after SECS (default 10)
      --timeout SECS     remote: fail after SECS without progress (default 60; 0: never)
  -W, --whole-file       remote: send changed files whole, never as a delta against the
                         destination's old copy (deltas: files of 1 MiB or more)
      --no-resume        do not keep partial files of interrupted large files (8 MiB or
                         more), nor continue from them
      --force-grpc       remote: carry data in the control stream, not the TCP data plane
      --keep-special-bits
                         pull: keep setuid, setgid and sticky bits (a local run keeps
                         them; on a push the daemon's module decides)
  -h, --help             this help (inside a group, -h is rsync's human-readable: accepted)

Daemon sessions (sign-in and trust):
${SECURITY_HELP}
`;
