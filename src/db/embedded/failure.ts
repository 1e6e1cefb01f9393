/**
 * Why the embedded server cannot start (EmbeddedFailure), and the DependencyError a command reports
 * for it, with what was tried.
 */
import net from 'node:net';
import { DependencyError, MedallionError } from '../../errors.ts';
import { type EmbeddedPaths, shownPath } from './state.ts';

/** A reason the embedded server cannot start; openDatabase turns it into a DependencyError. */
export class EmbeddedFailure extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

export function failure(err: unknown, paths: EmbeddedPaths, version: string | undefined, triedLocal: string | undefined, asked: boolean): MedallionError {
  if (err instanceof MedallionError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  const hints = [
    err instanceof EmbeddedFailure && err.hint ? err.hint : undefined,
    `Tried: ${asked ? '' : '--database-url, DATABASE_URL and PGHOST/PGHOSTADDR/PGPORT/PGUSER/PGDATABASE/PGPASSWORD (none set), then '}the embedded PostgreSQL${version ? ` ${version}` : ''} in ${paths.root} (log: ${shownPath(paths, paths.log)}).`,
    triedLocal,
    'To use another server, set DATABASE_URL=postgresql://user@host:port/database.',
  ].filter(Boolean);
  return new DependencyError('EMBEDDED_DB_FAILED', `${asked ? 'the embedded PostgreSQL' : 'no PostgreSQL server is configured and the embedded one'} could not start: ${reason}`, { hint: hints.join(' ') }, { cause: err });
}

/** A hint when a server answers on the default local port, so the user can point at it. */
export async function localServerHint(): Promise<string | undefined> {
  const open = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: 5432 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
  return open ? 'A server is listening on 127.0.0.1:5432: DATABASE_URL=postgresql://USER@127.0.0.1:5432/DATABASE would use it.' : undefined;
}
