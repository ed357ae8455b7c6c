import { equal, rejects } from "node:assert/strict";
import { TaskPool } from "../core/pool.ts";

Deno.test("TaskPool", async (t) => {
  await t.step("never runs more than the limit at once", async () => {
    const pool = new TaskPool(3);
    let running = 0;
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      await pool.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 2));
        running--;
      });
    }
    await pool.drain();
    equal(peak, 3);
    equal(running, 0);
  });
  await t.step("drain() re-throws the first task error", async () => {
    const pool = new TaskPool(2);
    await pool.run(() => Promise.reject(new Error("boom")));
    await rejects(pool.drain(), /boom/);
  });
});
