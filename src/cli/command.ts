/**
 * What every command file under src/cli/ exports. A command is one file, src/cli/<name>.ts, and its
 * name in COMMAND_NAMES and COMMANDS (main.ts); the options it takes are the entries of OPTIONS
 * (src/config.ts) that list it. main.ts parses and checks the command line against that table
 * before `run` is called, answers `-h`/`--help` from it without calling `run`, and turns whatever
 * `run` throws into the final line and the exit code. A command file imports the modules its run
 * needs inside `run` (dynamic import), so that help and `medallion help` load none of them.
 */
import type { ParsedArgs } from '../config.ts';

export interface CommandIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM; long stages check it and stop cleanly. */
  signal: AbortSignal;
}

export interface Command {
  /** One line for `medallion help`. */
  summary: string;
  /** What follows `medallion <name>` in the usage line; default `[options]`. */
  synopsis?: string;
  /** The paragraphs of `--help` between the usage line and the options. */
  description: string;
  /** How many arguments without `--` the command takes (default 0): more are refused (exit 2). */
  positionals?: number;
  /** Runs with the checked options (env variables applied, defaults not filled in). */
  run(args: ParsedArgs, io: CommandIo): Promise<number>;
}
