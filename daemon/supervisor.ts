/**
 * Keeps the daemon's server process running: starts it, forwards stop signals to it, and
 * restarts it with backoff when it crashes.
 *
 * @module
 */
import { describeError } from "../core/errors.ts";

/**
 * Exit code with which a server says it can never start with this configuration (a port in
 * use, an export it cannot open): the supervisor does not restart it and exits with this code.
 * It is `EX_CONFIG` from `sysexits.h`.
 */
export const EXIT_NO_RESTART = 78;

/**
 * How much longer than the shutdown grace (`shutdown_grace`) the launcher waits for a stopping
 * server before it kills it: the server cancels what still runs when its grace ends, then
 * needs a moment to tell the clients and close.
 */
export const STOP_MARGIN_MS = 10_000;

/** Options for {@linkcode Supervisor}. */
export interface SupervisorOptions {
  /** Program to run (for blitd: the Deno executable). */
  command: string;
  /**
   * Its arguments, or a function called at each start that returns them (for blitd: the
   * permission flags name the port, which a restarted server keeps).
   */
  args: string[] | (() => string[]);
  /**
   * Working directory of the child.
   * @default {the current directory}
   */
  cwd?: string;
  /**
   * Where the child's stdout and stderr go: the supervisor's own, or nowhere.
   * @default {"inherit"}
   */
  stdio?: "inherit" | "null";
  /**
   * Signals the supervisor listens for and forwards to the child before exiting.
   * Tests pass `[]` and call {@linkcode Supervisor.stop} instead.
   * @default {["SIGTERM", "SIGINT"]}
   */
  signals?: Deno.Signal[];
  /**
   * Delay before the first restart, in milliseconds; it doubles on each crash.
   * @default {200}
   */
  initialBackoffMs?: number;
  /**
   * Longest delay between restarts, in milliseconds.
   * @default {5000}
   */
  maxBackoffMs?: number;
  /**
   * A child that ran this long before crashing counts as healthy: the delay starts again from
   * `initialBackoffMs`.
   * @default {30000}
   */
  healthyAfterMs?: number;
  /**
   * Most restarts within any 60 seconds; one more crash and the supervisor gives up with exit
   * code 1.
   * @default {5}
   */
  maxRestartsPerMinute?: number;
  /**
   * How long a stopping child may take before it is killed with `SIGKILL`, in milliseconds.
   * @default {10000}
   */
  stopTimeoutMs?: number;
  /**
   * Receives each log line (no newline).
   * @default {a function printing "blitd: LINE" on stderr}
   */
  log?: (line: string) => void;
  /**
   * Text written to the child's standard input at each start, or a function called at each
   * start that returns it (for blitd: the handoff, see daemon/handoff.ts, which names the port
   * the first server bound so that a restarted one binds it again); standard input then stays
   * open and is closed to ask the child to stop. Without it, the child's standard input is
   * `/dev/null`.
   */
  stdin?: string | (() => string);
  /**
   * Whether a stop signal is forwarded to the child. False when the child is a namespace tool
   * (bubblewrap) that would die of the signal without passing it on: the child is then asked to
   * stop by closing its standard input only.
   * @default {true}
   */
  forwardSignals?: boolean;
  /**
   * Receives each line the child writes on standard output (without the newline); without it,
   * the output goes where `stdio` says.
   */
  onStdoutLine?: (line: string) => void;
  /**
   * The child's whole environment (nothing else is inherited), or `undefined` to inherit the
   * supervisor's.
   */
  env?: Record<string, string>;
}

const MINUTE_MS = 60_000;

/**
 * Runs a server process and keeps it running.
 *
 * - Exit code 0: the server stopped on its own; {@linkcode Supervisor.run} returns 0.
 * - {@linkcode EXIT_NO_RESTART}: logged, not restarted; `run` returns that code.
 * - Any other exit code, or death by a signal the supervisor did not send: one log line, then a
 *   restart after a delay (`initialBackoffMs`, doubling up to `maxBackoffMs`, reset after
 *   `healthyAfterMs` of running). After `maxRestartsPerMinute` restarts within a minute, the
 *   next crash makes `run` return 1.
 * - A stop signal (or {@linkcode Supervisor.stop}): forwarded to the child, no more restarts;
 *   `run` returns the child's exit code, 0 if the forwarded signal killed it, or 1 if it had to
 *   be killed after `stopTimeoutMs`.
 *
 * @example Usage
 * ```ts ignore
 * import { Supervisor } from "./supervisor.ts";
 * const supervisor = new Supervisor({ command: Deno.execPath(), args: ["run", "server.ts"] });
 * Deno.exitCode = await supervisor.run();
 * ```
 */
export class Supervisor {
  #command: string;
  #args: string[] | (() => string[]);
  #cwd: string | undefined;
  #stdio: "inherit" | "null";
  #signals: Deno.Signal[];
  #initialBackoffMs: number;
  #maxBackoffMs: number;
  #healthyAfterMs: number;
  #maxRestartsPerMinute: number;
  #stopTimeoutMs: number;
  #log: (line: string) => void;
  #stdin: string | (() => string) | undefined;
  #forwardSignals: boolean;
  #onStdoutLine: ((line: string) => void) | undefined;
  #env: Record<string, string> | undefined;

  #child: Deno.ChildProcess | null = null;
  #stdinWriter: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #started = false;
  #stopSignals = new Set<Deno.Signal>();
  #killedByTimeout = false;
  #killTimer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | null = null;
  #restarts = 0;

  /**
   * Creates a supervisor; nothing starts before {@linkcode Supervisor.run}.
   * @param options The command and the restart policy.
   */
  constructor(options: SupervisorOptions) {
    const {
      command,
      args,
      cwd,
      stdio = "inherit",
      signals = ["SIGTERM", "SIGINT"],
      initialBackoffMs = 200,
      maxBackoffMs = 5000,
      healthyAfterMs = 30_000,
      maxRestartsPerMinute = 5,
      stopTimeoutMs = 10_000,
      log = (line: string) => console.error(`blitd: ${line}`),
      stdin,
      forwardSignals = true,
      onStdoutLine,
      env,
    } = options;
    this.#env = env === undefined ? undefined : { ...env };
    this.#stdin = stdin;
    this.#forwardSignals = forwardSignals;
    this.#onStdoutLine = onStdoutLine;
    this.#command = command;
    this.#args = typeof args === "function" ? args : [...args];
    this.#cwd = cwd;
    this.#stdio = stdio;
    this.#signals = [...signals];
    this.#initialBackoffMs = initialBackoffMs;
    this.#maxBackoffMs = maxBackoffMs;
    this.#healthyAfterMs = healthyAfterMs;
    this.#maxRestartsPerMinute = maxRestartsPerMinute;
    this.#stopTimeoutMs = stopTimeoutMs;
    this.#log = log;
  }

  /** Process id of the running child, or `null` between runs. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Number of restarts so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /**
   * Stops supervising: forwards `signal` to the child (again on each call) and starts no new
   * child. If the child is still running after `stopTimeoutMs`, it is killed with `SIGKILL`.
   * @param signal The signal to forward.
   */
  stop(signal: Deno.Signal = "SIGTERM"): void {
    const first = this.#stopSignals.size === 0;
    this.#stopSignals.add(signal);
    this.#wake?.();
    const child = this.#child;
    if (child === null) return;
    this.#closeStdin();
    if (this.#forwardSignals) kill(child, signal);
    if (first) {
      this.#killTimer = setTimeout(() => {
        this.#killTimer = undefined;
        this.#killedByTimeout = true;
        this.#log(
          `server (pid ${child.pid}) did not stop within ${seconds(this.#stopTimeoutMs)}; ` +
            "killing it",
        );
        kill(child, "SIGKILL");
      }, this.#stopTimeoutMs);
    }
  }

  /**
   * Starts the child and supervises it until it stops for good.
   * @throws {Error} If called twice.
   * @returns The exit code for the supervisor's own process.
   */
  async run(): Promise<number> {
    if (this.#started) throw new Error("Cannot run supervisor: it has already run");
    this.#started = true;
    const handlers = this.#signals.map((signal) => {
      const handler = (): void => this.stop(signal);
      Deno.addSignalListener(signal, handler);
      return { signal, handler };
    });
    try {
      return await this.#loop();
    } finally {
      for (const { signal, handler } of handlers) Deno.removeSignalListener(signal, handler);
      clearTimeout(this.#killTimer);
      this.#wake?.();
    }
  }

  get #stopping(): boolean {
    return this.#stopSignals.size > 0;
  }

  async #loop(): Promise<number> {
    let backoffMs = this.#initialBackoffMs;
    const recent: number[] = [];
    while (!this.#stopping) {
      let child: Deno.ChildProcess;
      try {
        child = new Deno.Command(this.#command, {
          args: typeof this.#args === "function" ? this.#args() : this.#args,
          ...(this.#cwd === undefined ? {} : { cwd: this.#cwd }),
          ...(this.#env === undefined ? {} : { env: this.#env, clearEnv: true }),
          stdin: this.#stdin === undefined ? "null" : "piped",
          stdout: this.#onStdoutLine === undefined ? this.#stdio : "piped",
          stderr: this.#stdio,
        }).spawn();
      } catch (error) {
        const detail = describeError(error);
        this.#log(`Cannot start server "${this.#command}": ${detail}`);
        return 1;
      }
      this.#child = child;
      const startedAt = performance.now();
      const output = this.#onStdoutLine === undefined
        ? Promise.resolve()
        : forwardLines(child.stdout, this.#onStdoutLine);
      await this.#writeStdin(child);
      const status = await child.status;
      await output;
      this.#closeStdin();
      this.#child = null;
      const ranMs = performance.now() - startedAt;

      if (this.#stopping) return this.#stoppedCode(status);
      if (status.success) return 0;
      const what = describeExit(child.pid, status, ranMs);
      if (status.signal === null && status.code === EXIT_NO_RESTART) {
        this.#log(`${what}: it cannot start with this configuration, not restarting`);
        return EXIT_NO_RESTART;
      }
      const now = performance.now();
      while (recent.length > 0 && now - (recent[0] ?? now) >= MINUTE_MS) recent.shift();
      if (recent.length >= this.#maxRestartsPerMinute) {
        this.#log(
          `${what}; Cannot keep the server running: ${recent.length} restarts within a minute, ` +
            "giving up",
        );
        return 1;
      }
      if (ranMs >= this.#healthyAfterMs) backoffMs = this.#initialBackoffMs;
      this.#log(`${what}; restarting in ${seconds(backoffMs)}`);
      await this.#sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, this.#maxBackoffMs);
      if (this.#stopping) break;
      recent.push(performance.now());
      this.#restarts++;
    }
    return 0;
  }

  /** Writes the start text; a child that dies first is noticed by its status, not here. */
  async #writeStdin(child: Deno.ChildProcess): Promise<void> {
    if (this.#stdin === undefined) return;
    const writer = child.stdin.getWriter();
    this.#stdinWriter = writer;
    try {
      const text = typeof this.#stdin === "string" ? this.#stdin : this.#stdin();
      await writer.write(new TextEncoder().encode(text));
    } catch {
      // The child is gone; its exit status says how.
    }
    if (this.#stopping) this.#closeStdin();
  }

  #closeStdin(): void {
    const writer = this.#stdinWriter;
    this.#stdinWriter = null;
    writer?.close().catch(() => {});
  }

  #stoppedCode(status: Deno.CommandStatus): number {
    clearTimeout(this.#killTimer);
    this.#killTimer = undefined;
    if (this.#killedByTimeout) return 1;
    if (status.signal !== null && this.#stopSignals.has(status.signal)) return 0;
    return status.signal === null ? status.code : 1;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}

/** Splits a stream into lines (a last line without a newline included). */
async function forwardLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  try {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + text).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    }
  } catch {
    // The child's output broke off; whatever arrived was forwarded.
  }
  if (rest !== "") onLine(rest);
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // The child has already exited; its status is on the way.
  }
}

function describeExit(pid: number, status: Deno.CommandStatus, ranMs: number): string {
  const how = status.signal === null
    ? `exited with code ${status.code}`
    : `was killed by ${status.signal}`;
  return `server (pid ${pid}) ${how} after ${seconds(ranMs)}`;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(ms < 1000 ? 2 : 1))} s`;
}
