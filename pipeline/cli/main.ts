import yargs from 'yargs';
import type { Argv } from 'yargs';
import { CliError } from '../errors';
import { sanitizeForTerminal } from './output';

/**
 * Thin router: each command lives in commands/<verb>.ts and is loaded only when run, so `--help` and
 * quick commands do not pay for DuckDB. This is the only place that sets the exit code.
 */
type Loader = () => Promise<{ builder: (y: Argv) => Argv; handler: (args: Record<string, unknown>) => Promise<void> }>;

const COMMANDS: Array<{ command: string; describe: string; load: Loader }> = [
  { command: 'import <inputs..>', describe: 'Read sign-in logs (any shape, .gz, folders) into the Parquet lake', load: () => import('./commands/import') },
  { command: 'consume', describe: 'Stream sign-in logs from Azure Event Hubs into the lake, with Blob checkpoints', load: () => import('./commands/consume') },
  { command: 'pull <url>', describe: 'Copy a lake kept in Blob Storage into a local folder, to analyse it', load: () => import('./commands/pull') },
  { command: 'compact', describe: 'Merge each settled hour\'s small Parquet files into one, atomically', load: () => import('./commands/compact') },
  { command: 'retention', describe: 'Delete lake days, quarantine, import summaries and reports older than N days', load: () => import('./commands/retention') },
  { command: 'nightly', describe: 'The nightly job: compact, report yesterday, then retention; one status line per step', load: () => import('./commands/nightly') },
  { command: 'detect', describe: 'Find users in reauthentication loops; write flagged sessions', load: () => import('./commands/detect') },
  { command: 'clusters', describe: 'Find tenant-wide loop clusters (many users looping at once)', load: () => import('./commands/clusters') },
  { command: 'report', describe: 'Write the report for a day: Markdown, HTML, JSON and CSV (remediation list for session revocation)', load: () => import('./commands/report') },
  { command: 'loops', describe: 'Flagged sessions filtered by app, OS, client, user, error code, kind, severity, period', load: () => import('./commands/loops') },
  { command: 'user <who>', describe: 'One user\'s timeline: every sign-in, their loops, devices and IP addresses', load: () => import('./commands/user') },
  { command: 'explain <loop-id>', describe: 'Why a loop was flagged: the rule, thresholds, prompts one by one, codes, evidence', load: () => import('./commands/explain') },
  { command: 'watch', describe: 'Detect loops continuously on a lake and send alerts to SIEMs (syslog, Splunk, Sentinel, ...)', load: () => import('./commands/watch') },
  { command: 'sinks <action> [name]', describe: 'Alert sinks: `status` (outbox depth, last success/error) or `test NAME` (send a test alert)', load: () => import('./commands/sinks') },
  { command: 'query [sql]', describe: 'Run your own SQL over the views sign_ins, prompts, loops, clusters', load: () => import('./commands/query') },
  { command: 'publish <inputs..>', describe: 'Send sign-in logs to an event hub as diagnostic-settings bodies (replay an incident)', load: () => import('./commands/publish') },
  { command: 'dev-hub', describe: 'Run a local Event Hubs (and Azurite) for development: no Azure account needed', load: () => import('./commands/dev-hub') },
  { command: 'simulate', describe: 'Generate a realistic tenant with planted loops and traps', load: () => import('./commands/simulate') },
  { command: 'demo', describe: 'Run the whole pipeline locally: simulated day → local hub → consume → lake → detect', load: () => import('./commands/demo') },
];

export async function main(argv: string[]): Promise<void> {
  let debug = argv.includes('--debug');
  try {
    let y = yargs(argv)
      .scriptName('reauth-loops')
      .usage('$0 <command> [options]\n\nFinds Microsoft Entra ID users stuck in reauthentication loops.')
      .option('debug', { type: 'boolean', describe: 'Print stack traces for unexpected errors', global: true })
      .example('$0 import ./exports --lake ./lake', 'land exported sign-in logs')
      .example('$0 detect --lake ./lake', 'show who is looping')
      .example('$0 clusters --lake ./lake --out clusters.ndjson', 'write tenant-wide incidents')
      .demandCommand(1, `Name a command: ${COMMANDS.map((c) => c.command.split(' ')[0]).join(', ')}.`)
      .strict()
      .recommendCommands()
      .wrap(Math.min(110, process.stdout.columns ?? 100))
      .fail((msg, err) => {
        // yargs passes what an option's coerce threw as its own YError: the message is ours, a usage error.
        if (err) throw err.name === 'YError' ? new CliError(err.message, 2) : err;
        throw new CliError(`${msg}\nRun with --help for usage and examples.`, 2);
      });
    for (const c of COMMANDS) {
      y = y.command(
        c.command,
        c.describe,
        // yargs builders are synchronous, so each module's builder is loaded up front only for the
        // command being run (see `selected` below); others get an empty builder.
        (yy) => (selected?.command === c.command && loaded ? loaded.builder(yy) : yy),
        async (args) => {
          debug = Boolean(args.debug);
          await (loaded ?? (await c.load())).handler(args as Record<string, unknown>);
        },
      );
    }
    const first = argv.find((a) => !a.startsWith('-'));
    const selected = COMMANDS.find((c) => c.command.split(' ')[0] === first);
    const loaded = selected ? await selected.load() : null;
    await y.parseAsync();
  } catch (e) {
    if (e instanceof CliError) {
      // Each line is escaped on its own: the message may quote hostile input, but its own line breaks stay.
      process.stderr.write(`reauth-loops: ${e.message.split('\n').map(sanitizeForTerminal).join('\n')}\n`);
      process.exitCode = e.exitCode;
    } else {
      const err = e as Error;
      process.stderr.write(`reauth-loops: unexpected error: ${sanitizeForTerminal(err?.message ?? String(e))}\n`);
      process.stderr.write(debug ? `${err?.stack ?? ''}\n` : 'Run again with --debug for the stack trace, and report it with the command you ran.\n');
      process.exitCode = 1;
    }
  }
}
