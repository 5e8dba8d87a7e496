import type { Argv } from 'yargs';
import { detect } from '../../detect/detect';
import { emit, lakeOption, note, outputOptions, thresholdOptions, thresholdValues } from '../shared';

export const CLUSTER_TABLE_COLUMNS = ['cluster_id', 'start', 'core_end', 'end', 'peak_users', 'user_count', 'app_display_name', 'device_os', 'client_app_used', 'error_codes', 'users_still_looping'];

export function builder(y: Argv): Argv {
  return thresholdOptions(outputOptions(lakeOption(y)))
    .example('$0 clusters --lake ./lake', 'tenant-wide incidents, as a table')
    .example('$0 clusters --lake ./lake --min-cluster-users 5 --out clusters.ndjson', 'smaller tenants: fewer users make an incident')
    .epilog('Writes one object per cluster (schemas/loop-cluster.schema.json).');
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const r = await detect(args.lake as string, thresholdValues(args), { memoryLimit: args['memory-limit'] as string });
  await emit(args, r.clusters.columns, r.clusters.rows, CLUSTER_TABLE_COLUMNS);
  note(`${r.clusters.rows.length} cluster(s) from ${r.signIns.toLocaleString('en-US')} sign-ins.`);
}
