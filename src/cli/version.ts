import { readFileSync } from 'node:fs';

/** The version in package.json (src/cli/ and dist/cli/ are both two folders below it). */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
