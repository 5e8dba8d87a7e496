import { extname } from 'node:path';
import type { Argv } from 'yargs';
import { atomicWrite } from '../../lake/lake';
import { userTimelineResults, type UserTimelineResults } from '../../report/user';
import { formatRows, sanitizeForTerminal, type Column } from '../output';
import { jsonDocument } from '../document';
import { lakeOption, namedThresholdOptions, note, thresholdValues } from '../shared';

const FORMATS = ['table', 'ndjson', 'json'] as const;
type TimelineFormat = (typeof FORMATS)[number];

const EVENT_TABLE_COLUMNS = ['created_at', 'kind', 'outcome', 'error_code', 'app_display_name', 'device_os', 'device_id', 'ip_address', 'user_agent', 'loop_id'];
const LOOP_TABLE_COLUMNS = ['loop_id', 'kind', 'severity', 'app_display_name', 'device_os', 'start', 'end', 'prompt_count', 'reauth_signal_count', 'error_codes', 'cluster_id'];

export function builder(y: Argv): Argv {
  return namedThresholdOptions(lakeOption(y))
    .positional('who', { type: 'string', describe: 'The user: UPN (any case) or object id; a display name only if one user has it' })
    .option('since', { type: 'string', describe: 'First sign-in time shown (UTC), e.g. 2026-04-14T09:00:00Z. Default: their first sign-in' })
    .option('until', { type: 'string', describe: 'End of the period, exclusive (UTC), e.g. 2026-04-15. Default: their last sign-in' })
    .option('format', { choices: FORMATS as unknown as string[], describe: 'table (default on a terminal): timeline, loops, devices, IPs; ndjson (default when piped): the timeline as one object; json: the same, indented' })
    .option('out', { type: 'string', describe: 'Write to this file (atomically) instead of stdout; .json gives JSON, anything else NDJSON unless --format says' })
    .option('html', { type: 'string', describe: 'Write the timeline as a self-contained HTML page with a chart to this file (atomically)' })
    .option('memory-limit', { type: 'string', default: '1GB', describe: 'DuckDB memory limit' })
    .example('$0 user ana@contoso.com --lake ./lake', 'every sign-in of Ana, her loops, devices and IP addresses')
    .example('$0 user ana@contoso.com --lake ./lake --since 2026-04-14T09:00:00Z --until 2026-04-14T12:00:00Z', 'one morning')
    .example('$0 user 6b31977e-452b-4db5-baa6-af1c6b7e4074 --lake ./lake --format json > ana.json', 'by object id, as a JSON document (schema reauth-loops.user-timeline/1)')
    .example('$0 user ana@contoso.com --lake ./lake --html ana.html', 'a page to attach to the ticket')
    .epilog('kind: prompt = an interactive flow the user had to act on; silent = single sign-on they did not notice; background = an app refreshing tokens. Loops are the ones `detect` stored in the lake (<lake>/findings/; detected once first when sign-ins landed since or other thresholds are given); the period keeps the loops that overlap it. `reauth-loops explain LOOP_ID` says why a loop was flagged.');
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const out = args.out as string | undefined;
  const format: TimelineFormat = (args.format as TimelineFormat | undefined) ?? (out ? (extname(out).toLowerCase() === '.json' ? 'json' : extname(out).toLowerCase() === '.txt' ? 'table' : 'ndjson') : process.stdout.isTTY ? 'table' : 'ndjson');
  const r = await userTimelineResults(args.lake as string, String(args.who ?? ''), {
    from: args.since as string | undefined,
    to: args.until as string | undefined,
    thresholds: thresholdValues(args),
    db: { memoryLimit: args['memory-limit'] as string },
  });
  if (r.matchedBy === 'display_name') note(`Matched by display name: ${r.timeline.user.user_principal_name ?? r.timeline.user.user_id}.`);
  const html = args.html as string | undefined;
  if (html) {
    // Loaded only when asked for: the chart library is heavy.
    const { renderUserHtml } = await import('../../report/html');
    await atomicWrite(html, await renderUserHtml(r.timeline));
    note(`Wrote ${html}.`);
  }
  // With --html alone the page is the output; --format or --out asks for the text as well.
  if (!html || out || args.format) {
    const text = format === 'table' ? tables(r) : jsonDocument(r.timeline, format === 'json');
    if (out) await atomicWrite(out, text);
    else process.stdout.write(text);
  }
  const t = r.timeline;
  const prompts = t.events.filter((e) => e.kind === 'prompt').length;
  note(`${t.events.length} sign-in row(s) (${prompts} in prompts), ${t.loops.length} loop(s), ${t.devices.length} device(s), ${t.ips.length} IP address(es) from ${t.period.from} to ${t.period.to}.`);
}

function tables(r: UserTimelineResults): string {
  const t = r.timeline;
  const who = [t.user.user_principal_name, t.user.user_display_name && JSON.stringify(t.user.user_display_name), t.user.user_id && `object id ${t.user.user_id}`].filter(Boolean).join(', ');
  const section = (title: string, rows: readonly unknown[], columns: Column[], only?: string[]): string =>
    `\n${title}\n${formatRows(rows as Record<string, unknown>[], only ? columns.filter((c) => only.includes(c.name)) : columns, 'table', { maxCellWidth: 60 }) as string}`;
  return (
    `${sanitizeForTerminal(`User ${who}`)}\n${sanitizeForTerminal(`Period ${t.period.from} to ${t.period.to}`)}\n` +
    section(`Timeline (${t.events.length} sign-in rows)`, t.events, r.columns.events, EVENT_TABLE_COLUMNS) +
    section(`Loops (${t.loops.length})`, t.loops, r.columns.loops, LOOP_TABLE_COLUMNS) +
    section(`Devices (${t.devices.length})`, t.devices, r.columns.devices) +
    section(`IP addresses (${t.ips.length})`, t.ips, r.columns.ips)
  );
}
