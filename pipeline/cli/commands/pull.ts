import type { Argv } from 'yargs';
import { CliError } from '../../errors';
import { BlobMirror, isBlobUrl, parseBlobLake } from '../../lake/remote';
import { credentialFor, CREDENTIAL_KINDS, describeAzureError, ENV, type CredentialKind } from '../../sources/eventhub';
import { registerSecret } from '../../secrets';
import { note } from '../shared';

export function builder(y: Argv): Argv {
  return y
    .positional('url', { type: 'string', describe: 'The Blob lake, https://<account>.blob.core.windows.net/<container>/<prefix>' })
    .option('to', { type: 'string', demandOption: true, describe: 'Local folder to bring the lake into (files already there are skipped)' })
    .option('credential', { choices: CREDENTIAL_KINDS, describe: `Entra credential when ${ENV.storageConnectionString} is not set [default: managed-identity]` })
    .example('$0 pull https://contosolake.blob.core.windows.net/signins --to ./lake --credential azure-cli && $0 detect --lake ./lake', 'analyse a Blob lake locally')
    .epilog('Needs Storage Blob Data Reader on the container. Only whole files are listed in Blob Storage, and each is renamed into place once downloaded, so a pull can be interrupted and run again.');
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const url = args.url as string;
  if (!isBlobUrl(url)) throw new CliError(`${url} is not a Blob URL; a lake folder needs no pull.`, 2);
  const cs = process.env[ENV.storageConnectionString];
  registerSecret(cs);
  const mirror = BlobMirror.open(parseBlobLake(url), cs ? { connectionString: cs } : { credential: await credentialFor({ credential: args.credential as CredentialKind | undefined, consumerGroup: '', checkpointContainer: '' }) });
  try {
    const r = await mirror.pull(args.to as string);
    note(`Pulled ${r.downloaded} file(s) into ${args.to} (${r.present} already there). Next: reauth-loops detect --lake ${args.to}`);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`Cannot read the lake ${url}: ${describeAzureError(e)}. The identity needs Storage Blob Data Reader on the container.`, 3);
  }
}
