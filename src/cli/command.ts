/**
 * What every command file under src/cli/ exports. Commands parse their own options (with
 * parseArgs from src/config.ts), call library functions, and return an exit code or throw a
 * MedallionError; main.ts turns errors into the final line and the exit code.
 */
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
  /** Full usage text, shown by `medallion help COMMAND` and `--help`. */
  usage: string;
  run(argv: string[], io: CommandIo): Promise<number>;
}
