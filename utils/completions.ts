/**
 * `blit-utils completions bash|zsh|fish`: shell completion scripts for `blit` and `blit-utils`
 * (verbs, flags, local files, and remote paths through the daemon's `CompletePath` RPC), and
 * the hidden `blit-utils __complete WORD` helper the scripts call for remote words.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { AdminClient } from "../core/admin_client.ts";
import { parseHostAddress } from "../core/endpoint.ts";
import { UsageError } from "../core/errors.ts";

/** Help of `blit-utils completions`. */
export const COMPLETIONS_HELP = `Usage: blit-utils completions bash|zsh|fish

Prints a completion script for blit and blit-utils: verbs, flags, local files,
and remote paths (HOST:/module/pa<TAB> asks the daemon). Install it with:
  bash:  source <(blit-utils completions bash)      # e.g. in ~/.bashrc
  zsh:   source <(blit-utils completions zsh)       # after compinit
  fish:  blit-utils completions fish > ~/.config/fish/completions/blit.fish
Set BLIT_COMPLETE_HELPER to override the command the scripts run for remote
paths (it gets "__complete WORD" appended).
`;

/** Deadline of one completion call: the shell is waiting. */
const COMPLETE_TIMEOUT_MS = 3_000;

/** Verbs and flags of one program, for the scripts. */
export interface ProgramSpec {
  /** Command name. */
  name: string;
  /** Verbs, in the order offered. */
  verbs: string[];
  /** Flags per verb (long and short). */
  flags: Record<string, string[]>;
  /** Fixed words offered for a verb's first argument (e.g. `completions bash`). */
  words: Record<string, string[]>;
}

/** The flags of every verb that talks to a daemon (cmdline/security_flags.ts). */
const SECURITY_FLAGS = ["--identity", "--user", "--known-hosts", "--tls-ca", "--no-tls"];

const TRANSFER_FLAGS = [
  "--checksum",
  "--size-only",
  "--ignore-times",
  "--ignore-existing",
  "--exclude",
  "--include",
  "--dry-run",
  "--verbose",
  "--progress",
  "--no-progress",
  "--json",
  "--yes",
  "--force-grpc",
  "--whole-file",
  "--no-resume",
  "--max-delete",
  "--keep-special-bits",
  "--archive",
  "--compress",
  "--update",
  "--min-size",
  "--max-size",
  "--exclude-from",
  "--include-from",
  "--files-from",
  "--quiet",
  "--itemize-changes",
  "--one-file-system",
  "--hard-links",
  "--no-owner",
  "--backup",
  "--backup-dir",
  "--suffix",
  "--partial",
  "--stats",
  "--log-file",
  "--delete",
  "--delete-excluded",
  "--bwlimit",
  "--contimeout",
  "--timeout",
  "--help",
  "-W",
  "-c",
  "-I",
  "-n",
  "-v",
  "-p",
  "-y",
  "-h",
  "-a",
  "-z",
  "-u",
  "-q",
  "-i",
  "-P",
  "-x",
  "-H",
  "-b",
  ...SECURITY_FLAGS,
];

/** What the scripts complete for `blit`. */
export const BLIT_SPEC: ProgramSpec = {
  name: "blit",
  verbs: [
    "copy",
    "mirror",
    "move",
    "check",
    "list",
    "scan",
    "diagnostics",
    "keygen",
    "known-hosts",
    "help",
  ],
  flags: {
    copy: TRANSFER_FLAGS,
    mirror: TRANSFER_FLAGS,
    move: TRANSFER_FLAGS,
    check: [
      "--checksum",
      "--size-only",
      "--exclude",
      "--include",
      "--json",
      "--help",
      "-c",
      "-h",
      ...SECURITY_FLAGS,
    ],
    list: ["--json", "--help", ...SECURITY_FLAGS],
    scan: ["--wait", "--json", "--help"],
    diagnostics: ["--limit", "--json", "--clear", "--disable", "--enable", "--help"],
    keygen: ["--output", "--force", "--comment", "--json", "--help"],
    "known-hosts": ["--known-hosts", "--json", "--help"],
  },
  words: {
    diagnostics: ["perf"],
    "known-hosts": ["list", "forget"],
    help: ["copy", "mirror", "move"],
  },
};

/** What the scripts complete for `blit-utils`. */
export const UTILS_SPEC: ProgramSpec = {
  name: "blit-utils",
  verbs: ["scan", "list", "ls", "find", "du", "df", "rm", "completions", "profile", "help"],
  flags: {
    scan: ["--wait", "--json", "--help"],
    list: ["--json", "--help", ...SECURITY_FLAGS],
    ls: ["--json", "--help", ...SECURITY_FLAGS],
    find: [
      "--pattern",
      "--files",
      "--dirs",
      "--case-insensitive",
      "--limit",
      "--json",
      "--help",
      "-i",
      ...SECURITY_FLAGS,
    ],
    du: ["--max-depth", "--json", "--help", ...SECURITY_FLAGS],
    df: ["--json", "--help", ...SECURITY_FLAGS],
    rm: ["--yes", "--dry-run", "--json", "--help", "-y", "-n", ...SECURITY_FLAGS],
    completions: ["--help"],
    profile: ["--limit", "--json", "--help"],
  },
  words: {
    completions: ["bash", "zsh", "fish"],
    help: ["scan", "list", "ls", "find", "du", "df", "rm", "completions", "profile"],
  },
};

/** Quotes a word for POSIX shells (and fish, which reads single quotes the same way). */
function quote(word: string): string {
  return /^[A-Za-z0-9_/.,:=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The default command the scripts run for remote words: this checkout's `utils/main.ts` under
 * the running Deno, with the permissions a completion call needs.
 * @returns The command words (`__complete WORD` is appended by the script).
 */
export function defaultHelper(): string[] {
  const url = new URL("./main.ts", import.meta.url);
  if (url.protocol !== "file:") return ["blit-utils", "__complete"];
  return [
    Deno.execPath(),
    "run",
    "--quiet",
    "--no-prompt",
    "--allow-read",
    "--allow-net",
    "--allow-env",
    "--allow-sys",
    fileURLToPath(url),
    "__complete",
  ];
}

function bashCase(spec: ProgramSpec, table: "flags" | "words"): string {
  return Object.entries(spec[table])
    .map(([verb, list]) => `    ${verb}) echo ${quote(list.join(" "))} ;;`)
    .join("\n");
}

function bashFunction(spec: ProgramSpec, fn: string): string {
  return `${fn}_flags() {
  case $1 in
${bashCase(spec, "flags")}
  esac
}
${fn}_words() {
  case $1 in
${bashCase(spec, "words")}
  esac
}
${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} verb= i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      -*) ;;
      *) verb=\${COMP_WORDS[i]}; break ;;
    esac
  done
  COMPREPLY=()
  if [[ -z $verb ]]; then
    case $cur in
      -*) COMPREPLY=($(compgen -W "--help --version" -- "$cur")) ;;
      *) COMPREPLY=($(compgen -W ${quote(spec.verbs.join(" "))} -- "$cur")) ;;
    esac
    return 0
  fi
  _blit_complete_arg "$verb" "$cur" ${fn}_flags ${fn}_words
}`;
}

/**
 * The bash completion script (defines `_blit` and `_blit_utils`).
 * @param helper The command run for remote words.
 * @returns The script.
 */
export function bashScript(helper: string[] = defaultHelper()): string {
  return `# bash completion for blit and blit-utils (generated by "blit-utils completions bash")
_blit_helper=(${helper.map(quote).join(" ")})

# Completes one argument of a verb: flags, fixed words, remote paths, or local files.
_blit_complete_arg() {
  local verb=$1 cur=$2 flags_fn=$3 words_fn=$4
  local line=\${COMP_LINE:0:COMP_POINT}
  local word=\${line##*[[:space:]]}
  case $word in
    -*)
      COMPREPLY=($(compgen -W "$($flags_fn "$verb")" -- "$cur"))
      return 0
      ;;
    *:/*)
      local IFS=$'\\n' helper candidates
      if [[ -n $BLIT_COMPLETE_HELPER ]]; then
        read -r -a helper <<< "$BLIT_COMPLETE_HELPER"
        helper+=(__complete)
      else
        helper=("\${_blit_helper[@]}")
      fi
      candidates=($("\${helper[@]}" "$word" 2>/dev/null))
      if [[ $COMP_WORDBREAKS == *:* ]]; then
        local strip=\${word%"\${word##*:}"}
        COMPREPLY=("\${candidates[@]#"$strip"}")
      else
        COMPREPLY=("\${candidates[@]}")
      fi
      if [[ \${#COMPREPLY[@]} -gt 0 && \${COMPREPLY[0]} == */ ]]; then
        compopt -o nospace 2>/dev/null
      fi
      return 0
      ;;
  esac
  local words
  words=$($words_fn "$verb")
  if [[ -n $words ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    return 0
  fi
  compopt -o filenames 2>/dev/null
  COMPREPLY=($(compgen -f -- "$cur"))
}

${bashFunction(BLIT_SPEC, "_blit")}

${bashFunction(UTILS_SPEC, "_blit_utils")}

complete -F _blit blit
complete -F _blit_utils blit-utils
`;
}

function zshTable(spec: ProgramSpec, table: "flags" | "words"): string {
  return Object.entries(spec[table])
    .map(([verb, list]) => `  ${quote(`${spec.name}:${verb}`)} ${quote(list.join(" "))}`)
    .join("\n");
}

/**
 * The zsh completion script (source it after `compinit`).
 * @param helper The command run for remote words.
 * @returns The script.
 */
export function zshScript(helper: string[] = defaultHelper()): string {
  return `# zsh completion for blit and blit-utils (generated by "blit-utils completions zsh")
typeset -ga _blit_helper
_blit_helper=(${helper.map(quote).join(" ")})
typeset -gA _blit_verbs _blit_flags _blit_words
_blit_verbs=(
  blit ${quote(BLIT_SPEC.verbs.join(" "))}
  blit-utils ${quote(UTILS_SPEC.verbs.join(" "))}
)
_blit_flags=(
${zshTable(BLIT_SPEC, "flags")}
${zshTable(UTILS_SPEC, "flags")}
)
_blit_words=(
${zshTable(BLIT_SPEC, "words")}
${zshTable(UTILS_SPEC, "words")}
)

_blit_complete() {
  local cmd=\${words[1]:t} verb= i
  for (( i = 2; i < CURRENT; i++ )); do
    if [[ \${words[i]} != -* ]]; then verb=\${words[i]}; break; fi
  done
  if [[ -z $verb ]]; then
    compadd -- \${=_blit_verbs[$cmd]}
    return
  fi
  case $PREFIX in
    -*)
      compadd -- \${=_blit_flags[$cmd:$verb]}
      return
      ;;
    *:/*)
      local -a helper candidates
      if [[ -n $BLIT_COMPLETE_HELPER ]]; then
        helper=(\${=BLIT_COMPLETE_HELPER} __complete)
      else
        helper=("\${_blit_helper[@]}")
      fi
      candidates=("\${(@f)$("\${helper[@]}" "$PREFIX" 2>/dev/null)}")
      compadd -Q -S '' -- \${candidates:#}
      return
      ;;
  esac
  if [[ -n \${_blit_words[$cmd:$verb]} ]]; then
    compadd -- \${=_blit_words[$cmd:$verb]}
    return
  fi
  _files
}
compdef _blit_complete blit blit-utils
`;
}

function fishLines(spec: ProgramSpec): string {
  const lines = [
    `complete -c ${spec.name} -f -n __fish_use_subcommand -a ${quote(spec.verbs.join(" "))}`,
  ];
  for (const [verb, flags] of Object.entries(spec.flags)) {
    for (const flag of flags) {
      const option = flag.startsWith("--") ? `-l ${flag.slice(2)}` : `-s ${flag.slice(1)}`;
      lines.push(`complete -c ${spec.name} -n '__fish_seen_subcommand_from ${verb}' ${option}`);
    }
  }
  for (const [verb, words] of Object.entries(spec.words)) {
    lines.push(
      `complete -c ${spec.name} -f -n '__fish_seen_subcommand_from ${verb}' -a ${
        quote(words.join(" "))
      }`,
    );
  }
  lines.push(
    `complete -c ${spec.name} -n 'not __fish_use_subcommand' -a '(__blit_remote_complete)'`,
  );
  return lines.join("\n");
}

/**
 * The fish completion script.
 * @param helper The command run for remote words.
 * @returns The script.
 */
export function fishScript(helper: string[] = defaultHelper()): string {
  return `# fish completion for blit and blit-utils (generated by "blit-utils completions fish")
set -g __blit_helper ${helper.map(quote).join(" ")}
function __blit_remote_complete
  set -l word (commandline -ct)
  string match -q -- '*:/*' $word; or return
  if set -q BLIT_COMPLETE_HELPER
    eval $BLIT_COMPLETE_HELPER __complete (string escape -- $word) 2>/dev/null
  else
    $__blit_helper $word 2>/dev/null
  end
end
${fishLines(BLIT_SPEC)}
${fishLines(UTILS_SPEC)}
`;
}

/**
 * Runs `blit-utils completions SHELL`.
 * @param argv Arguments after `completions`.
 * @returns The exit code.
 */
export function runCompletions(argv: string[]): Promise<number> {
  const [shell, ...rest] = argv;
  if (shell === "--help" || shell === "-h") {
    console.log(COMPLETIONS_HELP);
    return Promise.resolve(0);
  }
  if (rest.length > 0) {
    throw new UsageError(
      `Cannot use extra argument "${rest[0]}": run "blit-utils completions --help"`,
    );
  }
  switch (shell) {
    case "bash":
      console.log(bashScript());
      return Promise.resolve(0);
    case "zsh":
      console.log(zshScript());
      return Promise.resolve(0);
    case "fish":
      console.log(fishScript());
      return Promise.resolve(0);
    default:
      throw new UsageError(
        `Cannot write completions for ${
          shell === undefined ? "no shell" : `"${shell}"`
        }: choose bash, zsh or fish`,
      );
  }
}

/**
 * Splits a remote word as typed, `HOST[:PORT]:/prefix` (also `[IPV6]:PORT:/prefix`), into the
 * text before `:/` and the prefix after it.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { splitRemoteWord } from "./completions.ts";
 * deepStrictEqual(splitRemoteWord("nas:9000:/photos/20"), { head: "nas:9000", prefix: "photos/20" });
 * deepStrictEqual(splitRemoteWord("./local"), null);
 * ```
 *
 * @param word The word being completed.
 * @returns The parts, or `null` when the word is not remote.
 */
export function splitRemoteWord(word: string): { head: string; prefix: string } | null {
  if (word.startsWith("/") || word.startsWith(".") || word.startsWith("~")) return null;
  const at = word.indexOf(":/");
  if (at <= 0) return null;
  return { head: word.slice(0, at), prefix: word.slice(at + 2) };
}

/**
 * Runs `blit-utils __complete WORD [--dirs]`: prints the remote candidates for WORD, one per
 * line, in the form typed. Prints nothing (and exits 0) for a local word or when the daemon
 * cannot be asked: the shell then offers nothing.
 * @param argv Arguments after `__complete`.
 * @returns The exit code (always 0).
 */
export async function runComplete(argv: string[]): Promise<number> {
  const word = argv[0] ?? "";
  const parts = splitRemoteWord(word);
  if (!parts) return 0;
  let client: AdminClient | null = null;
  try {
    const address = parseHostAddress(parts.head);
    client = await AdminClient.connect(address, {
      callTimeoutMs: COMPLETE_TIMEOUT_MS,
      notify: () => {},
      security: { recordNewHosts: false },
    });
    const candidates = await client.completePath(parts.prefix, argv.includes("--dirs"));
    for (const candidate of candidates) console.log(`${parts.head}:/${candidate}`);
  } catch {
    // Completion stays silent: the shell simply offers nothing.
  } finally {
    client?.close();
  }
  return 0;
}
