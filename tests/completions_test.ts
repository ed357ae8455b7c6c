import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { TRANSFER_HELP } from "../cli/transfer.ts";
import { CHECK_HELP } from "../cli/check.ts";
import { DIAGNOSTICS_HELP } from "../cli/diagnostics.ts";
import { LIST_HELP as BLIT_LIST_HELP } from "../cli/list.ts";
import { scanHelp } from "../cmdline/scan_verb.ts";
import {
  bashScript,
  BLIT_SPEC,
  fishScript,
  splitRemoteWord,
  UTILS_SPEC,
  zshScript,
} from "../utils/completions.ts";
import { DF_HELP } from "../utils/df.ts";
import { DU_HELP } from "../utils/du.ts";
import { FIND_HELP } from "../utils/find.ts";
import { LIST_HELP } from "../utils/list.ts";
import { LS_HELP } from "../utils/ls.ts";
import { PROFILE_HELP } from "../utils/profile.ts";
import { RM_HELP } from "../utils/rm.ts";
import { startDaemon } from "./_daemon.ts";
import { makeTree, REPO, testConfigHome, withTempDir } from "./_helpers.ts";

/** Runs the real `blit-utils completions SHELL` and returns the script. */
async function generate(shell: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-env",
      "--allow-sys",
      `${REPO}/utils/main.ts`,
      "completions",
      shell,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", XDG_CONFIG_HOME: testConfigHome() },
  }).output();
  const decoder = new TextDecoder();
  assertEquals(code, 0, decoder.decode(stderr));
  return decoder.decode(stdout);
}

/**
 * Sources `script` in a fresh bash and runs the completion function for a command line, the
 * way bash does on TAB: COMP_LINE/COMP_POINT, and COMP_WORDS split on COMP_WORDBREAKS.
 * @returns The candidates (COMPREPLY), one per element.
 */
async function complete(
  script: string,
  line: string,
  options: { cwd?: string; wordbreaksWithoutColon?: boolean } = {},
): Promise<string[]> {
  const breaks = options.wordbreaksWithoutColon ? `COMP_WORDBREAKS=$' \\t\\n"\\'><=;|&('` : "";
  const program = `
source "$1"
${breaks}
line=$2
COMP_LINE=$line
COMP_POINT=\${#line}
# Split like readline: on blanks, and on the word-break characters (kept as words of their own).
COMP_WORDS=()
word=
for ((i = 0; i < \${#line}; i++)); do
  c=\${line:i:1}
  if [[ $c == " " ]]; then
    [[ -n $word ]] && COMP_WORDS+=("$word")
    word=
  elif [[ $c != '"' && $c != "'" && $COMP_WORDBREAKS == *"$c"* ]]; then
    [[ -n $word ]] && COMP_WORDS+=("$word")
    COMP_WORDS+=("$c")
    word=
  else
    word+=$c
  fi
done
COMP_WORDS+=("$word")
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
case \${COMP_WORDS[0]} in
  blit) _blit ;;
  blit-utils) _blit_utils ;;
esac
printf '%s\\n' "\${COMPREPLY[@]}"
`;
  const file = await Deno.makeTempFile({ prefix: "blit-completion-", suffix: ".bash" });
  try {
    await Deno.writeTextFile(file, script);
    const { code, stdout, stderr } = await new Deno.Command("bash", {
      args: ["--norc", "--noprofile", "-c", program, "bash", file, line],
      cwd: options.cwd ?? REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    assertEquals(code, 0, decoder.decode(stderr));
    return decoder.decode(stdout).split("\n").filter((l) => l !== "");
  } finally {
    await Deno.remove(file);
  }
}

/** Long and short flags named in a help text. */
function flagsOf(help: string): string[] {
  const flags = new Set<string>();
  for (const m of help.matchAll(/(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b/g)) {
    flags.add(m[1] as string);
  }
  return [...flags].sort();
}

Deno.test("bash completion script", async (t) => {
  const script = await generate("bash");

  await t.step("is valid bash", async () => {
    const file = await Deno.makeTempFile({ prefix: "blit-completion-", suffix: ".bash" });
    try {
      await Deno.writeTextFile(file, script);
      const { code, stderr } = await new Deno.Command("bash", { args: ["-n", file] }).output();
      assertEquals(code, 0, new TextDecoder().decode(stderr));
    } finally {
      await Deno.remove(file);
    }
  });

  await t.step("completes `blit mi` to `blit mirror`", async () => {
    assertEquals(await complete(script, "blit mi"), ["mirror"]);
  });

  await t.step("completes verbs and fixed words", async () => {
    assertEquals(await complete(script, "blit m"), ["mirror", "move"]);
    assertEquals(await complete(script, "blit-utils d"), ["du", "df"]);
    assertEquals(await complete(script, "blit-utils completions "), ["bash", "zsh", "fish"]);
    assertEquals(await complete(script, "blit diagnostics p"), ["perf"]);
  });

  await t.step("completes each verb's flags", async () => {
    assertEquals(await complete(script, "blit copy --ch"), ["--checksum"]);
    assertEquals(await complete(script, "blit mirror -n --ig"), [
      "--ignore-times",
      "--ignore-existing",
    ]);
    assertEquals(await complete(script, "blit-utils find x --ca"), ["--case-insensitive"]);
    assertEquals(await complete(script, "blit-utils du --m"), ["--max-depth"]);
  });

  await t.step("completes local files", async () => {
    await withTempDir(async (dir) => {
      await makeTree(dir, { "photos/a.jpg": "a", "notes.txt": "n" });
      assertEquals(await complete(script, "blit copy ph", { cwd: dir }), ["photos"]);
      assertEquals(await complete(script, "blit-utils ls photos/", { cwd: dir }), [
        "photos/a.jpg",
      ]);
    });
  });

  await t.step("completes remote paths through the daemon", async () => {
    await withTempDir(async (dir) => {
      await makeTree(dir, {
        "m/photos/2024/a.jpg": "a",
        "m/photos/2025/b.jpg": "b",
        "m/readme.txt": "r",
        "music/x.mp3": "x",
      });
      const daemon = await startDaemon(dir, [
        { name: "m", path: `${dir}/m` },
        { name: "music", path: `${dir}/music` },
      ]);
      try {
        const host = daemon.address;
        // bash splits "127.0.0.1:PORT:/m/ph" on ':' and replaces only the text after the last
        // one, so the candidates come back without the host part.
        assertEquals(await complete(script, `blit-utils ls ${host}:/m`), ["/m/", "/music/"]);
        assertEquals(await complete(script, `blit copy ${host}:/m/ph`), ["/m/photos/"]);
        assertEquals(await complete(script, `blit-utils find ${host}:/m/photos/`), [
          "/m/photos/2024/",
          "/m/photos/2025/",
        ]);
        assertEquals(
          await complete(script, `blit-utils ls ${host}:/m/photos/`, {
            wordbreaksWithoutColon: true,
          }),
          [`${host}:/m/photos/2024/`, `${host}:/m/photos/2025/`],
        );
        assertEquals(await complete(script, `blit-utils ls ${host}:/nope/x`), []);
        assert(daemon.running(), daemon.log());
      } finally {
        await daemon.stop();
      }
      const gone = `${daemon.address}:/m/`;
      assertEquals(await complete(script, `blit-utils ls ${gone}`), []);
    });
  });
});

Deno.test("completion helpers", async (t) => {
  await t.step("splitRemoteWord() separates the host part from the prefix", () => {
    assertEquals(splitRemoteWord("nas:/m/a"), { head: "nas", prefix: "m/a" });
    assertEquals(splitRemoteWord("nas://x"), { head: "nas", prefix: "/x" });
    assertEquals(splitRemoteWord("[::1]:9000:/m/"), { head: "[::1]:9000", prefix: "m/" });
    assertEquals(splitRemoteWord("/abs/path"), null);
    assertEquals(splitRemoteWord("./rel:/x"), null);
    assertEquals(splitRemoteWord("plain"), null);
  });

  await t.step("the flag tables match the help texts", () => {
    assertEquals(flagsOf(TRANSFER_HELP), [...(BLIT_SPEC.flags.copy ?? [])].sort());
    assertEquals(flagsOf(CHECK_HELP), [...(BLIT_SPEC.flags.check ?? [])].sort());
    assertEquals(
      flagsOf(BLIT_LIST_HELP),
      [...(BLIT_SPEC.flags.list ?? [])].sort().filter((f) => f !== "--help"),
    );
    assertEquals(flagsOf(scanHelp("blit scan")), ["--json", "--wait"]);
    assertEquals(
      flagsOf(DIAGNOSTICS_HELP),
      [...(BLIT_SPEC.flags.diagnostics ?? [])].filter((f) => f !== "--help").sort(),
    );
    const helps: Record<string, string> = {
      list: LIST_HELP,
      ls: LS_HELP,
      find: FIND_HELP,
      du: DU_HELP,
      df: DF_HELP,
      rm: RM_HELP,
      profile: PROFILE_HELP,
    };
    for (const [verb, help] of Object.entries(helps)) {
      assertEquals(
        flagsOf(help),
        [...(UTILS_SPEC.flags[verb] ?? [])].filter((f) => f !== "--help").sort(),
        verb,
      );
    }
  });

  await t.step("zsh and fish scripts name every verb and the helper", () => {
    const helper = ["/opt/deno", "run", "/x/utils/main.ts", "__complete"];
    const zsh = zshScript(helper);
    const fish = fishScript(helper);
    for (const verb of [...BLIT_SPEC.verbs, ...UTILS_SPEC.verbs]) {
      match(zsh, new RegExp(`\\b${verb}\\b`));
      match(fish, new RegExp(`\\b${verb}\\b`));
    }
    match(zsh, /compdef _blit_complete blit blit-utils/);
    match(zsh, /_blit_helper=\(\/opt\/deno run \/x\/utils\/main\.ts __complete\)/);
    match(fish, /complete -c blit -n '__fish_seen_subcommand_from copy' -l checksum/);
    match(fish, /set -g __blit_helper \/opt\/deno run \/x\/utils\/main\.ts __complete/);
    match(bashScript(helper), /complete -F _blit blit\n/);
  });

  await t.step("the scripts are valid for the shells found on this machine", async () => {
    for (const [shell, script] of [["zsh", zshScript()], ["fish", fishScript()]] as const) {
      const found = await new Deno.Command("sh", {
        args: ["-c", `command -v ${shell}`],
        stdout: "null",
        stderr: "null",
      }).output();
      if (!found.success) {
        console.log(`  (${shell} is not installed: syntax check skipped)`);
        continue;
      }
      const file = await Deno.makeTempFile({ prefix: "blit-completion-" });
      try {
        await Deno.writeTextFile(file, script);
        const { code, stderr } = await new Deno.Command(shell, { args: ["-n", file] }).output();
        assertEquals(code, 0, new TextDecoder().decode(stderr));
      } finally {
        await Deno.remove(file);
      }
    }
  });
});
