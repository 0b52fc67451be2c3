#!/usr/bin/env node
// parley-load: the TypeScript sources run through tsx's loader, registered in this
// process, so there is no build step and no second process.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
