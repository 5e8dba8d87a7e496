import type { Argv } from 'yargs';
import { filterOptions, filterValues, type FilterName } from '../filters';
import { emit, lakeOption, note, outputOptions, thresholdOptions, thresholdValues } from '../shared';
import { withDetection, workbenchQuery } from '../../workbench/run';

export const CLUSTER_TABLE_COLUMNS = ['cluster_id', 'start', 'core_end', 'end', 'peak_users', 'user_count', 'app_display_name', 'device_os', 'client_app_used', 'error_codes', 'users_still_looping'];
const FILTERS: FilterName[] = ['app', 'os', 'client', 'code', 'since', 'until'];

export function builder(y: Argv): Argv {
  return filterOptions(thresholdOptions(outputOptions(lakeOption(y))), FILTERS)
    .example('$0 clusters --lake ./lake', 'tenant-wide incidents, as a table')
    .example('$0 clusters --lake ./lake --min-cluster-users 5 --out clusters.ndjson', 'smaller tenants: fewer users make an incident')
    .example('$0 clusters --lake ./lake --app outlook --os ios --code 70044', 'incidents on Outlook for iOS with sign-in frequency refusals')
    .epilog('Writes one object per cluster (schemas/loop-cluster.schema.json). --from/--to bound the sign-ins detection reads; --since/--until keep the clusters that overlap a period.');
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const filters = filterValues(args, FILTERS);
  const { rows, signIns } = await withDetection(args.lake as string, thresholdValues(args), { memoryLimit: args['memory-limit'] as string }, async (conn, info) => {
    const r = await workbenchQuery(conn, 'filtered_clusters', filters);
    await emit(args, r.columns, r.rows, CLUSTER_TABLE_COLUMNS);
    return { rows: r.rows.length, signIns: info.signIns };
  });
  note(`${rows} cluster(s)${Object.keys(filters).length ? ' matching the filters' : ''} from ${signIns.toLocaleString('en-US')} sign-ins.`);
}
