import type { Argv } from 'yargs';
import { startDevHub } from '../../devhub/server';
import { startAzurite } from '../../devhub/azurite';
import { ENV } from '../../sources/eventhub';
import { note } from '../shared';

export function builder(y: Argv): Argv {
  return y
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on (keep it loopback: there is no real authentication)' })
    .option('port', { type: 'number', default: 5672, describe: 'AMQP port (0: any free port)' })
    .option('hub', { type: 'string', default: 'signins', describe: 'Event hub name' })
    .option('partitions', { type: 'number', default: 4, describe: 'Partitions of the hub' })
    .option('consumer-group', { type: 'string', array: true, describe: 'Consumer groups besides $Default' })
    .option('azurite', { type: 'boolean', default: true, describe: 'Also start Azurite (Blob storage for checkpoints); --no-azurite to skip' })
    .option('azurite-dir', { type: 'string', describe: 'Keep Azurite\'s data in this folder (default: in memory)' })
    .example('$0 dev-hub', 'a hub "signins" with 4 partitions on 127.0.0.1:5672, and Azurite; prints the settings to export')
    .example('$0 dev-hub --port 0 --partitions 8 --consumer-group reauth-loops', 'any free port, 8 partitions, an extra group')
    .epilog(
      'A development stand-in for Azure Event Hubs that the real @azure/event-hubs clients accept with UseDevelopmentEmulator=true. ' +
        'Events live in memory and are gone when it stops. Stop it with Ctrl-C.',
    );
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const hubName = args.hub as string;
  const hub = await startDevHub({
    host: args.host as string,
    port: args.port as number,
    hubs: [{ name: hubName, partitions: args.partitions as number, consumerGroups: args['consumer-group'] as string[] | undefined }],
  });
  const azurite = args.azurite ? await startAzurite(args['azurite-dir'] ? { dir: args['azurite-dir'] as string } : { inMemory: true }) : null;
  note(`Local Event Hubs: ${hub.host}:${hub.port}, hub "${hubName}" with ${args.partitions} partitions${azurite ? `; Azurite Blob on port ${azurite.port}` : ''}.`);
  note('In another shell:');
  process.stdout.write(`export ${ENV.eventHubConnectionString}='${hub.connectionString(hubName)}'\n`);
  if (azurite) process.stdout.write(`export ${ENV.storageConnectionString}='${azurite.connectionString}'\n`);
  note('then: reauth-loops consume --lake ./lake   and   reauth-loops publish <files>\nCtrl-C stops.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await hub.close();
  await azurite?.close();
}
