#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script).
require('../dist/pipeline/cli/main.js').main(process.argv.slice(2));
