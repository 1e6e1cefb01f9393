#!/usr/bin/env node
// The `medallion` command. Runs the compiled JavaScript in dist/ when it is at least as new as
// every file under src/ (`npm ci` builds it through the `prepare` script; `npm run compile`
// rebuilds it), and otherwise the TypeScript sources through tsx, so an edited source is never
// run stale. dist/ saves about 0.4 s of start-up and 50 MB of memory per command.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stamp = path.join(root, 'dist', '.stamp');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

let main;
if (existsSync(stamp) && newestMtime(path.join(root, 'src')) <= statSync(stamp).mtimeMs) {
  ({ main } = await import(pathToFileURL(path.join(root, 'dist', 'cli', 'main.js')).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(pathToFileURL(path.join(root, 'src', 'cli', 'main.ts')).href));
}
process.exitCode = await main(process.argv.slice(2));
