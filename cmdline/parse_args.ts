/**
 * Command-line option parsing with the semantics, results and error messages of `node:util`
 * `parseArgs` in strict mode (`values`, `positionals` and `tokens`), for the verbs of `blit` and
 * `blit-utils`.
 *
 * It exists for start-up time only: importing any `node:` module starts Deno's Node
 * compatibility layer (about 13 ms per run, measured on `blit --version`), and loading any npm
 * package, `@pkgjs/parseargs` or `mri` included, about 40 ms. `tests/cli_args_test.ts` checks it
 * against `node:util` `parseArgs` argument for argument.
 *
 * @module
 */

/** How one option is written and what it takes. */
export interface OptionConfig {
  /** `boolean` options take no value; `string` options take exactly one. */
  readonly type: "boolean" | "string";
  /** A one-character alias, written `-x`. */
  readonly short?: string;
  /** Collects every occurrence in an array instead of keeping the last. */
  readonly multiple?: boolean;
}

/** The options of a command, by long name (written `--name`). */
export type OptionsConfig = Readonly<Record<string, OptionConfig>>;

/** What {@linkcode parseArgs} parses and how. */
export interface ParseArgsConfig<O extends OptionsConfig> {
  /** The arguments, without the program and verb. */
  readonly args: readonly string[];
  /** The options the command knows; any other option is an error. */
  readonly options: O;
  /**
   * Accept arguments that are not options.
   * @default {false}
   */
  readonly allowPositionals?: boolean;
  /** Always strict; accepted for the `node:util` call shape. */
  readonly strict?: true;
  /** Accepted for the `node:util` call shape; tokens are always returned. */
  readonly tokens?: boolean;
}

type ValueOf<C extends OptionConfig> = C["type"] extends "string" ? string : boolean;

/** The parsed option values: absent when the option was not given. */
export type ParsedValues<O extends OptionsConfig> = {
  -readonly [K in keyof O]?: O[K] extends { readonly multiple: true } ? ValueOf<O[K]>[]
    : ValueOf<O[K]>;
};

/** One option as written, in command-line order. */
export interface OptionToken {
  /** Discriminant. */
  kind: "option";
  /** Long name of the option (the letter itself for an unknown short option). */
  name: string;
  /** The option as written: `-c` or `--checksum`. */
  rawName: string;
  /** Index in `args` of the argument the option came from. */
  index: number;
  /** The value, for an option that has one. */
  value: string | undefined;
  /** `true` for `--name=value` and `-xVALUE`, `false` for a value in the next argument. */
  inlineValue: boolean | undefined;
}

/** A parsed argument: an option, a positional, or the `--` that ends the options. */
export type ArgsToken =
  | OptionToken
  | { kind: "positional"; index: number; value: string }
  | { kind: "option-terminator"; index: number };

/** The result of {@linkcode parseArgs}. */
export interface ParsedArgs<O extends OptionsConfig> {
  /** Option values by long name. */
  values: ParsedValues<O>;
  /** Arguments that are not options, in order. */
  positionals: string[];
  /** Every argument as parsed, in order (keeps the order across different options). */
  tokens: ArgsToken[];
}

/** A command line that breaks the rules; `message` is the one `node:util` would give. */
export class ParseArgsError extends TypeError {
  /** The Node.js error code: `ERR_PARSE_ARGS_UNKNOWN_OPTION` and the like. */
  readonly code: string;
  /** For an ambiguous value: the option's long name (`max-depth`). */
  readonly option: string | undefined;
  /** For an ambiguous value: the value that starts with `-`. */
  readonly value: string | undefined;

  /**
   * Creates a parse error.
   * @param code The Node.js error code.
   * @param message What is wrong, worded as `node:util` words it.
   * @param ambiguous The option and its value, when the value starts with `-`.
   */
  constructor(code: string, message: string, ambiguous?: { option: string; value: string }) {
    super(message);
    this.code = code;
    this.option = ambiguous?.option;
    this.value = ambiguous?.value;
  }
}

function own(options: OptionsConfig, name: string): OptionConfig | undefined {
  return Object.hasOwn(options, name) ? options[name] : undefined;
}

function longNameOf(short: string, options: OptionsConfig): string {
  for (const name in options) {
    if (own(options, name)?.short === short) return name;
  }
  return short;
}

function takesValue(name: string, options: OptionsConfig): boolean {
  return own(options, name)?.type === "string";
}

/** Splits `args` into tokens the way `node:util` does, before any rule is checked. */
function tokenize(args: readonly string[], options: OptionsConfig): ArgsToken[] {
  const tokens: ArgsToken[] = [];
  const rest = args.slice();
  let index = -1;
  let grouped = 0; // arguments still to come from the expansion of a short-option group
  while (rest.length > 0) {
    const arg = rest.shift() as string;
    const next = rest[0];
    if (grouped > 0) grouped--;
    else index++;
    if (arg === "--") {
      tokens.push({ kind: "option-terminator", index });
      for (const value of rest) tokens.push({ kind: "positional", index: ++index, value });
      break;
    }
    const short = arg.length >= 2 && arg[0] === "-" && arg[1] !== "-";
    if (short && arg.length === 2) { // -x [VALUE]
      const name = longNameOf(arg[1] as string, options);
      const value = takesValue(name, options) && next !== undefined ? rest.shift() : undefined;
      tokens.push({
        kind: "option",
        name,
        rawName: arg,
        index,
        value,
        inlineValue: value === undefined ? undefined : false,
      });
      if (value !== undefined) index++;
      continue;
    }
    if (short) {
      const name = longNameOf(arg[1] as string, options);
      if (takesValue(name, options)) { // -xVALUE
        tokens.push({
          kind: "option",
          name,
          rawName: arg.slice(0, 2),
          index,
          value: arg.slice(2),
          inlineValue: true,
        });
        continue;
      }
      // -abc is -a -b -c; a value-taking letter before the end takes the rest: -abfFILE.
      const expanded: string[] = [];
      for (let i = 1; i < arg.length; i++) {
        const letter = arg[i] as string;
        if (!takesValue(longNameOf(letter, options), options) || i === arg.length - 1) {
          expanded.push(`-${letter}`);
        } else {
          expanded.push(`-${arg.slice(i)}`);
          break;
        }
      }
      rest.unshift(...expanded);
      grouped = expanded.length;
      continue;
    }
    if (arg.length > 2 && arg.startsWith("--")) {
      const equals = arg.indexOf("=", 3);
      if (equals === -1) { // --name [VALUE]
        const name = arg.slice(2);
        const value = takesValue(name, options) && next !== undefined ? rest.shift() : undefined;
        tokens.push({
          kind: "option",
          name,
          rawName: arg,
          index,
          value,
          inlineValue: value === undefined ? undefined : false,
        });
        if (value !== undefined) index++;
      } else { // --name=VALUE
        const name = arg.slice(2, equals);
        tokens.push({
          kind: "option",
          name,
          rawName: `--${name}`,
          index,
          value: arg.slice(equals + 1),
          inlineValue: true,
        });
      }
      continue;
    }
    tokens.push({ kind: "positional", index, value: arg });
  }
  return tokens;
}

function checkOption(token: OptionToken, options: OptionsConfig, allowPositionals: boolean): void {
  const config = own(options, token.name);
  if (config === undefined) {
    const hint = allowPositionals
      ? `. To specify a positional argument starting with a '-', place it at the end of the ` +
        `command after '--', as in '-- ${JSON.stringify(token.rawName)}`
      : "";
    throw new ParseArgsError(
      "ERR_PARSE_ARGS_UNKNOWN_OPTION",
      `Unknown option '${token.rawName}'${hint}`,
    );
  }
  const names = config.short ? `-${config.short}, --${token.name}` : `--${token.name}`;
  if (config.type === "string" && token.value === undefined) {
    throw new ParseArgsError(
      "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
      `Option '${names} <value>' argument missing`,
    );
  }
  if (config.type === "boolean" && token.value !== undefined) {
    throw new ParseArgsError(
      "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
      `Option '${names}' does not take an argument`,
    );
  }
  const value = token.value;
  if (token.inlineValue === false && value !== undefined && value.length > 1 && value[0] === "-") {
    const raw = token.rawName;
    const example = raw.length === 2
      ? `'--${token.name}=-XYZ' or '${raw}-XYZ'`
      : `'--${token.name}=-XYZ'`;
    throw new ParseArgsError(
      "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
      `Option '${raw}' argument is ambiguous.\nDid you forget to specify the option argument ` +
        `for '${raw}'?\nTo specify an option argument starting with a dash use ${example}.`,
      { option: token.name, value },
    );
  }
}

/**
 * Parses a command line strictly, like `node:util` `parseArgs` with `strict: true` and
 * `tokens: true`: `--name value`, `--name=value`, `-x value`, `-xVALUE`, grouped short flags
 * (`-cv`), `--` ending the options, repeatable options with `multiple`.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseArgs } from "./parse_args.ts";
 * const { values, positionals } = parseArgs({
 *   args: ["-v", "--exclude", "*.log", "src/", "dst"],
 *   options: {
 *     verbose: { type: "boolean", short: "v" },
 *     exclude: { type: "string", multiple: true },
 *   },
 *   allowPositionals: true,
 * });
 * deepStrictEqual({ ...values }, { verbose: true, exclude: ["*.log"] });
 * deepStrictEqual(positionals, ["src/", "dst"]);
 * ```
 *
 * @param config The arguments, the known options, and whether positionals are allowed.
 * @throws {ParseArgsError} For an unknown option, a missing, extra or ambiguous value, or a
 *   positional where none is allowed; the message is `node:util`'s.
 * @returns Values by long name (an object without prototype), positionals and tokens.
 */
export function parseArgs<O extends OptionsConfig>(config: ParseArgsConfig<O>): ParsedArgs<O> {
  const options: OptionsConfig = config.options;
  const allowPositionals = config.allowPositionals ?? false;
  const tokens = tokenize(config.args, options);
  const values: Record<string, string | boolean | (string | boolean)[]> = Object.create(null);
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === "positional") {
      if (!allowPositionals) {
        throw new ParseArgsError(
          "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL",
          `Unexpected argument '${token.value}'. This command does not take positional arguments`,
        );
      }
      positionals.push(token.value);
    } else if (token.kind === "option") {
      checkOption(token, options, allowPositionals);
      if (token.name === "__proto__") continue;
      const value = token.value ?? true;
      const previous = values[token.name];
      if (own(options, token.name)?.multiple) {
        if (Array.isArray(previous)) previous.push(value);
        else values[token.name] = [value];
      } else {
        values[token.name] = value;
      }
    }
  }
  return { values: values as ParsedValues<O>, positionals, tokens };
}
