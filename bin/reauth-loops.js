#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script).
// Exit when the command is done: @azure/event-hubs 6.0.4 leaves a token-refresh timer behind each time a
// receiver reattaches, which would otherwise keep a finished `consume` alive for 45 minutes.
require('../dist/pipeline/cli/main.js')
  .main(process.argv.slice(2))
  .then(() => process.exit());
