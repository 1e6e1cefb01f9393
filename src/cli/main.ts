/**
 * The `medallion` command line: finds the command, parses and checks its arguments against
 * OPTIONS (src/config.ts) before anything runs, answers help and the version without running
 * anything, runs the command, and turns whatever it throws into one final line and an exit code
 * (EXIT and exitCodeFor of src/errors.ts). No pipeline logic lives here.
 */
import { closest, COMMAND_NAMES, type CommandName, optionsOf, parseArgs } from '../config.ts';
import { EXIT, exitCodeFor, fromFileSystemError, InterruptedError, MedallionError, UsageError } from '../errors.ts';
import type { Command, CommandIo } from './command.ts';
import { commandHelp, overviewHelp } from './help.ts';
import { version } from './version.ts';

/** One file per command; each loads what its run needs only when it runs. */
const COMMANDS: Record<CommandName, () => Promise<{ command: Command }>> = {
  build: () => import('./build.ts'),
  load: () => import('./load.ts'),
  transform: () => import('./transform.ts'),
  test: () => import('./test.ts'),
  compile: () => import('./compile.ts'),
  ls: () => import('./ls.ts'),
  source: () => import('./source.ts'),
  export: () => import('./export.ts'),
  generate: () => import('./generate.ts'),
  report: () => import('./report.ts'),
  docs: () => import('./docs.ts'),
  db: () => import('./db.ts'),
};

export { version };

function isCommand(name: string): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name);
}

export async function main(argv: string[], io: Partial<CommandIo> = {}): Promise<number> {
  const controller = new AbortController();
  const full: CommandIo = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
    signal: io.signal ?? controller.signal,
  };
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => () => controller.abort(new InterruptedError(signal));
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  if (!io.signal) {
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  }
  const [name, ...rest] = argv;
  try {
    if (name === '--version' || name === '-V' || name === 'version') {
      full.stdout.write(`medallion ${version()}\n`);
      return EXIT.ok;
    }
    if (!name || name === 'help' || name === '--help' || name === '-h') return await help(rest, full);
    if (!isCommand(name)) {
      const near = closest(name.replace(/^-+/, ''), [...COMMAND_NAMES, 'help']);
      throw new UsageError('USAGE_UNKNOWN_COMMAND', [`unknown command '${name}'${near ? ` (did you mean '${near}'?)` : ''}; commands: ${COMMAND_NAMES.join(', ')}`], { hint: 'Run `medallion help` for what each does.' });
    }
    const { command } = await COMMANDS[name]();
    const args = parseArgs(rest, optionsOf(name), full.env, command.positionals ?? 0, name);
    if (args.help) {
      full.stdout.write(`${commandHelp(name, command)}\n`);
      return EXIT.ok;
    }
    return await command.run(args, full);
  } catch (caught) {
    const err = fromFileSystemError(caught) ?? caught;
    const code = exitCodeFor(err);
    if (err instanceof MedallionError) {
      full.stderr.write(`medallion: error [${err.code}] ${err.describe()}\n`);
    } else {
      // Not one of ours: a bug. Show the stack, but still end with one line that says what happened.
      full.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
      full.stderr.write(`medallion: internal error: ${(err as Error)?.message ?? String(err)} (please report this with the output above)\n`);
    }
    return code;
  } finally {
    process.removeListener('SIGINT', onInt);
    process.removeListener('SIGTERM', onTerm);
  }
}

/** `medallion help [COMMAND]`: never runs a command. */
async function help(rest: string[], io: CommandIo): Promise<number> {
  const [commandName, ...extra] = rest.filter((a) => a !== '--help' && a !== '-h');
  if (commandName !== undefined) {
    if (!isCommand(commandName) || extra.length) {
      const near = closest(commandName, COMMAND_NAMES);
      throw new UsageError('USAGE_UNKNOWN_COMMAND', [extra.length ? `help takes one command, got ${rest.join(' ')}` : `unknown command '${commandName}'${near ? ` (did you mean '${near}'?)` : ''}; commands: ${COMMAND_NAMES.join(', ')}`]);
    }
    const { command } = await COMMANDS[commandName]();
    io.stdout.write(`${commandHelp(commandName, command)}\n`);
    return EXIT.ok;
  }
  const loaded: Record<string, Command> = {};
  for (const name of COMMAND_NAMES) loaded[name] = (await COMMANDS[name]()).command;
  io.stdout.write(`${overviewHelp(loaded, version())}\n`);
  return EXIT.ok;
}
