/**
 * `deno compile` bundles only what the static module graph reaches; worker entry modules are
 * loaded by URL at run time, so the compile task must `--include` each of them (it cannot be
 * built here: `denort` is not downloadable, so this checks the task itself).
 */

import { deepStrictEqual as deepEqual } from "node:assert/strict";
import { REPO } from "./_helpers.ts";

/** Source files under `dir` (recursive). */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(`${REPO}/${dir}`)) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...sourceFiles(rel));
    else if (entry.name.endsWith(".ts")) out.push(rel);
  }
  return out;
}

Deno.test("the compile task includes every worker entry module of the CLI", () => {
  const workers: string[] = [];
  for (const file of [...sourceFiles("core"), ...sourceFiles("cli")]) {
    const text = Deno.readTextFileSync(`${REPO}/${file}`);
    for (const match of text.matchAll(/new Worker\(\s*new URL\("\.\/([^"]+)"/g)) {
      workers.push(`${file.slice(0, file.lastIndexOf("/"))}/${match[1]}`);
    }
  }
  const config = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  const blitCompile = (config.tasks.compile ?? "").split("&&")[0] ?? "";
  const included = [...blitCompile.matchAll(/--include (\S+)/g)].map((m) => m[1]);
  deepEqual(included.toSorted(), workers.toSorted());
});
