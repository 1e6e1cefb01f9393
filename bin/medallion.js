#!/usr/bin/env node
// The `medallion` command. Runs the TypeScript sources through tsx so that there is no
// separate compile step that could leave a stale build behind.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
