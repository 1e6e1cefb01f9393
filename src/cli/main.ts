/**
 * The `medallion` command line: finds the command, runs it, and turns whatever it throws into one
 * final line and an exit code (EXIT and exitCodeFor of src/errors.ts). No pipeline logic lives here.
 */
import { EXIT, exitCodeFor, InterruptedError, MedallionError } from '../errors.ts';
import type { Command, CommandIo } from './command.ts';

/** Loaded lazily so that `medallion generate` does not load the Parquet writer, and so on. */
const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  build: () => import('./build.ts'),
  load: () => import('./load.ts'),
  transform: () => import('./transform.ts'),
  generate: () => import('./generate.ts'),
  export: () => import('./export.ts'),
  report: () => import('./report.ts'),
  docs: () => import('./docs.ts'),
  db: () => import('./db.ts'),
};

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
    if (!name || name === 'help' || name === '--help' || name === '-h') return await help(rest[0], full);
    const load = COMMANDS[name];
    if (!load) {
      full.stderr.write(`medallion: unknown command '${name}'. Commands: ${Object.keys(COMMANDS).join(', ')}.\n`);
      return EXIT.usage;
    }
    const { command } = await load();
    if (rest.includes('--help')) {
      full.stdout.write(`${command.usage}\n`);
      return EXIT.ok;
    }
    return await command.run(rest, full);
  } catch (err) {
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

async function help(commandName: string | undefined, io: CommandIo): Promise<number> {
  if (commandName && COMMANDS[commandName]) {
    const { command } = await COMMANDS[commandName]!();
    io.stdout.write(`${command.usage}\n`);
    return EXIT.ok;
  }
  const lines = ['usage: medallion COMMAND [options]', '', 'commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const { command } = await load();
    lines.push(`  ${name.padEnd(10)} ${command.summary}`);
  }
  lines.push('', 'exit codes: 0 ok, 1 data failed, 2 usage, 3 dependency (database, disk), 75 locked, 130/143 interrupted');
  io.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
