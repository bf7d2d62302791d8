#!/usr/bin/env -S node --max-semi-space-size=4
// The small young generation keeps peak memory near what the merged tree needs (about 40 MB less on a
// 100k-entry image, at the same speed: BENCHMARKS.md); `node bin/layerfold.js` works without it.
import { main } from '../dist/cli/main.js';

await main();
