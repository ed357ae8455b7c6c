/**
 * The live progress line: its text from fixed counters, its fit to the terminal's width, the
 * counters of files followed byte by byte, and the real CLI under a pseudo-terminal (`script`)
 * copying one 1 GiB file and a 20,000-file tree at 40 columns.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { formatProgress, type ProgressSnapshot } from "../cmdline/format_progress.ts";
import { formatEta } from "../cmdline/format_eta.ts";
import { shortenMiddle } from "../cmdline/format_fit.ts";
import { TransferStats } from "../core/stats.ts";
import { blitTaskFlags, REPO, testConfigHome, withTempDir } from "./_helpers.ts";
import { withModuleDaemon } from "./_daemon.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const done: ProgressSnapshot = {
  bytesDone: 300 * MiB,
  plannedBytes: GiB,
  filesDone: 12,
  plannedFiles: 40,
  scanDone: true,
  bytesPerSecond: 52.25 * MiB,
  failed: 0,
  current: { path: "videos/2024/summer/holiday.mkv", size: 600 * MiB, done: 270 * MiB },
};

Deno.test("progress text: fixed counters give an exact line", () => {
  assertEquals(
    formatProgress(done, 120),
    "29%  300.0 MiB/1.0 GiB  12/40 files  52.3 MiB/s  ETA 14s  videos/2024/summer/holiday.mkv 45%",
  );
  // While the scan runs the totals are lower bounds and the percentage and ETA guesses.
  assertEquals(
    formatProgress({ ...done, scanDone: false, current: null, failed: 2 }, 120),
    "~29%  300.0 MiB/1.0 GiB+  12/40+ files  52.3 MiB/s  ETA ~14s  2 failed",
  );
  // No rate yet: no ETA, and never a raw float.
  assertEquals(
    formatProgress({ ...done, bytesPerSecond: null, current: null }, 120),
    "29%  300.0 MiB/1.0 GiB  12/40 files  0 B/s  ETA ?",
  );
  assertEquals(
    formatProgress({ ...done, bytesPerSecond: 333.3333, current: null }, 120),
    "29%  300.0 MiB/1.0 GiB  12/40 files  333 B/s  ETA 27d",
  );
  // Nothing planned and the scan over: all done.
  assertEquals(
    formatProgress({ ...done, bytesDone: 0, plannedBytes: 0, current: null }, 120).slice(0, 5),
    "100% ",
  );
});

Deno.test("progress text: cut to the width, fields leave in order, the name is shortened", () => {
  for (let width = 1; width <= 130; width++) {
    const line = formatProgress({ ...done, failed: 3 }, width);
    assert(line.length <= Math.max(1, width - 1), `width ${width}: ${line}`);
  }
  assertEquals(
    formatProgress(done, 80),
    "29%  300.0 MiB/1.0 GiB  12/40 files  52.3 MiB/s  ETA 14s  video…holiday.mkv 45%",
  );
  assertEquals(
    formatProgress(done, 60),
    "29%  300.0 MiB/1.0 GiB  12/40 files  52.3 MiB/s  ETA 14s",
  );
  assertEquals(formatProgress(done, 40), "29%  300.0 MiB/1.0 GiB  ETA 14s");
  assertEquals(formatProgress(done, 12), "29%");
  assertEquals(shortenMiddle("a/very/long/path/name.bin", 12), "a/v…name.bin");
  // Control characters in names are escaped, never sent to the terminal.
  const hostile = formatProgress(
    { ...done, current: { ...done.current!, path: "x\x1b[2Jy" } },
    120,
  );
  assert(!hostile.includes("\x1b"), hostile);
  assertEquals(formatEta(65), "1m05s");
  assertEquals(formatEta(3 * 3600 + 59 * 60 + 1), "4h00m");
});

Deno.test("stats: the largest followed file is current, and its bytes count until it lands", () => {
  const stats = new TransferStats();
  const small = stats.follow("small", 10 * MiB);
  const big = stats.follow("big", 100 * MiB);
  assertEquals(stats.current?.path, "big");
  stats.progress(small, 4 * MiB);
  stats.progress(big, 30 * MiB);
  assertEquals(stats.bytesDone, 34 * MiB);
  stats.unfollow(big);
  stats.bytes += 100 * MiB;
  assertEquals(stats.current?.path, "small");
  assertEquals(stats.bytesDone, 104 * MiB);
  stats.unfollow(small);
  stats.unfollow(small);
  assertEquals(stats.current, null);
  assertEquals(stats.bytesDone, 100 * MiB);
});

/** Options of {@linkcode runOnTerminal}. */
interface TerminalRun {
  /** Columns of the pseudo-terminal. */
  cols: number;
  /** Types Ctrl-C (into the terminal, as a person would) once the screen so far passes this. */
  interruptWhen?: (screen: string) => boolean;
}

/** A run of the real CLI under a pseudo-terminal (`script`): what the screen received. */
async function runOnTerminal(
  args: string[],
  options: TerminalRun,
): Promise<{ code: number; screen: string }> {
  const quote = (word: string): string => `'${word.replaceAll("'", `'\\''`)}'`;
  const command = [Deno.execPath(), "run", ...blitTaskFlags(), `${REPO}/cli/main.ts`, ...args]
    .map(quote).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qfec", `stty cols ${options.cols} rows 24; exec ${command}`, "/dev/null"],
    cwd: REPO,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1", XDG_CONFIG_HOME: testConfigHome() },
  }).spawn();
  const keys = child.stdin.getWriter();
  const decoder = new TextDecoder();
  let screen = "";
  let interrupted = false;
  for await (const chunk of child.stdout) {
    screen += decoder.decode(chunk, { stream: true });
    if (!interrupted && options.interruptWhen?.(screen)) {
      interrupted = true;
      await keys.write(new Uint8Array([3]));
    }
  }
  await keys.close().catch(() => {});
  return { code: (await child.status).code, screen };
}

/** Writes a file of a repeated pattern (in 64 MiB pieces: fast, and no sparse holes). */
function writePatternFile(path: string, size = GiB): void {
  const piece = new Uint8Array(64 * MiB);
  const pattern = new TextEncoder().encode("blit progress test pattern 0123456789abcdef\n");
  for (let at = 0; at < piece.length; at += pattern.length) {
    piece.set(pattern.subarray(0, piece.length - at), at);
  }
  using file = Deno.openSync(path, { write: true, create: true });
  for (let i = 0; i < size / piece.length; i++) {
    for (let off = 0; off < piece.length;) off += file.writeSync(piece.subarray(off));
  }
}

/** Control sequences (ours erase to the end of the line; deno's own loader clears lines). */
const ESCAPES = new RegExp(String.raw`\x1b\[[0-9;?]*[A-Za-z]`, "g");

/** The lines a terminal showed, one per redraw: split at `\r` and `\n`, escapes gone. */
function drawnLines(screen: string): string[] {
  return screen.split(/\r|\n/).map((line) => line.replace(ESCAPES, "")).filter((l) => l);
}

const PROGRESS = /^~?(\d+)%/;

/** Checks what every run must show: width, in-place redraws, the summary on its own line. */
function checkScreen(screen: string, cols: number, summary: RegExp): string[] {
  assert(!screen.includes("   "), "no padding with spaces");
  // Every redraw is one `\r` + line + erase; the last one is erased and the summary follows.
  const lastErase = screen.lastIndexOf("\r\x1b[K");
  assert(lastErase >= 0, "the line is erased at the end");
  const drawn = drawnLines(screen.slice(0, lastErase));
  for (const line of drawn) {
    assert(line.length < cols, `a line wider than ${cols - 1} columns: ${JSON.stringify(line)}`);
  }
  const after = screen.slice(lastErase + 4);
  assert(summary.test(after), `the summary follows the cleared line: ${JSON.stringify(after)}`);
  assert(after.endsWith("\n") && !after.slice(0, -2).includes("\r"), "one summary line, ended");
  const progress = drawn.filter((line) => PROGRESS.test(line));
  assert(progress.length >= 3, `progress lines: ${progress.length}`);
  return progress;
}

function percents(lines: readonly string[]): number[] {
  return lines.map((line) => Number(PROGRESS.exec(line)![1]));
}

Deno.test({
  name: "terminal: bytes and percentage move during one 1 GiB file, within 40 columns",
  sanitizeResources: false,
  async fn() {
    await withTempDir(async (dir) => {
      writePatternFile(`${dir}/big.bin`);
      const cols = 40;
      const { code, screen } = await runOnTerminal(
        ["copy", `${dir}/big.bin`, `${dir}/copy.bin`, "--progress"],
        { cols },
      );
      assertEquals(code, 0, screen);
      const progress = checkScreen(
        screen,
        cols,
        /^copy: done: 1 file\(s\) transferred \(1\.0 GiB\)/,
      );
      const shown = percents(progress);
      for (let i = 1; i < shown.length; i++) assert(shown[i]! >= shown[i - 1]!, shown.join(" "));
      assertEquals(shown.at(-1), 100);
      // During the one file: at least two different byte counts between nothing and all.
      const during = new Set(
        progress.map((line) => /%\s+(\S+ \S+)\//.exec(line)?.[1] ?? "")
          .filter((bytes) => bytes !== "" && bytes !== "0 B" && bytes !== "1.0 GiB"),
      );
      assert(during.size >= 2, `byte counts during the file: ${[...during].join(", ")}`);
      assert(shown.some((p) => p > 0 && p < 100), shown.join(" "));
      const [a, b] = [await Deno.stat(`${dir}/big.bin`), await Deno.stat(`${dir}/copy.bin`)];
      assertEquals(b.size, a.size);
      const cmp = await new Deno.Command("cmp", { args: [`${dir}/big.bin`, `${dir}/copy.bin`] })
        .output();
      assertEquals(cmp.code, 0, "the copy has the same bytes");
    });
  },
});

Deno.test({
  name: "terminal: a 20,000-file tree shows a rising percentage within 40 columns",
  sanitizeResources: false,
  async fn() {
    await withTempDir(async (dir) => {
      const bytes = new Uint8Array(2048).fill(0x61);
      for (let d = 0; d < 200; d++) {
        const sub = `${dir}/src/d${String(d).padStart(3, "0")}`;
        Deno.mkdirSync(sub, { recursive: true });
        for (let f = 0; f < 100; f++) {
          Deno.writeFileSync(`${sub}/f${f}`, bytes.subarray(0, 1024 + f));
        }
      }
      const cols = 40;
      const { code, screen } = await runOnTerminal(
        ["copy", `${dir}/src`, `${dir}/dst`, "--progress"],
        { cols },
      );
      assertEquals(code, 0, screen);
      const progress = checkScreen(screen, cols, /^copy: done: 20000 file\(s\) transferred/);
      const shown = percents(progress);
      assert(shown.some((p) => p > 0), shown.join(" "));
      assert(shown.at(-1)! > shown[0]!, shown.join(" "));
      // The totals are marked as estimates while the scan runs.
      assert(progress.some((line) => line.startsWith("~") && /\+/.test(line)), String(progress[0]));
      let files = 0;
      const count = (path: string): void => {
        for (const entry of Deno.readDirSync(path)) {
          if (entry.isDirectory) count(`${path}/${entry.name}`);
          else files++;
        }
      };
      count(`${dir}/dst`);
      assertEquals(files, 20_000);
    });
  },
});

Deno.test({
  name: "terminal: Ctrl-C during a large file erases the line; the message takes its own line",
  sanitizeResources: false,
  async fn() {
    await withTempDir(async (dir) => {
      writePatternFile(`${dir}/big.bin`);
      const { code, screen } = await runOnTerminal(
        ["copy", `${dir}/big.bin`, `${dir}/copy.bin`, "--progress"],
        { cols: 60, interruptWhen: (screen) => /\r[1-9]\d?%/.test(screen) },
      );
      assertEquals(code, 130, screen);
      const lastErase = screen.lastIndexOf("\r\x1b[K");
      assert(lastErase >= 0, JSON.stringify(screen.slice(-200)));
      assertEquals(
        screen.slice(lastErase + 4).replace(/\r?\n$/, ""),
        "interrupted: 0 files done; partial files kept for resume",
      );
    });
  },
});

Deno.test({
  name: "terminal: a pull names the large file and moves its bytes as they arrive",
  sanitizeResources: false,
  async fn() {
    await withModuleDaemon(async (dir, daemon) => {
      writePatternFile(`${dir}/mod/big.bin`, 256 * MiB);
      const cols = 100;
      const { code, screen } = await runOnTerminal(
        ["copy", `${daemon.address}:/mod/big.bin`, `${dir}/pulled.bin`, "--progress"],
        { cols },
      );
      assertEquals(code, 0, screen);
      const progress = checkScreen(screen, cols, /^copy: done: 1 file\(s\) transferred/);
      const named = progress.map((line) => / {2}pulled\.bin (\d+)%$/.exec(line)?.[1]).filter((p) =>
        p
      );
      const moving = new Set(named.filter((p) => p !== "0" && p !== "100"));
      assert(
        moving.size >= 2,
        `the file's own progress: ${named.join(" ")} in ${JSON.stringify(screen)}`,
      );
      assertEquals((await Deno.stat(`${dir}/pulled.bin`)).size, 256 * MiB);
    });
  },
});

Deno.test({
  name: "terminal: a push shows its percentage and bytes moving as the data goes out",
  sanitizeResources: false,
  async fn() {
    await withModuleDaemon(async (dir, daemon) => {
      writePatternFile(`${dir}/big.bin`, 256 * MiB);
      const cols = 100;
      const { code, screen } = await runOnTerminal(
        ["copy", `${dir}/big.bin`, `${daemon.address}:/mod/pushed.bin`, "--progress"],
        { cols },
      );
      assertEquals(code, 0, screen);
      const progress = checkScreen(screen, cols, /^copy: done: 1 file\(s\) transferred/);
      const moving = new Set(percents(progress).filter((p) => p > 0 && p < 100));
      assert(moving.size >= 2, `percentages: ${percents(progress).join(" ")}`);
      assertEquals((await Deno.stat(`${dir}/mod/pushed.bin`)).size, 256 * MiB);
    });
  },
});
