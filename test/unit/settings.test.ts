import { writeFileSync } from 'node:fs';
import { ENV, loadSettings } from '../../pipeline/sources/eventhub';
import { redact, registerSecret } from '../../pipeline/secrets';
import { tempDir } from '../support/tmp';

/** Hub settings come from a config file, the environment, then flags; secrets never from flags, never printed. */
const tmp = tempDir();
afterAll(() => tmp.cleanup());

const CANARY = 'CANARYk3y+/Zz0123456789abcdefCANARY==';
const EH = `Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=${CANARY};EntityPath=signins`;
const ST = `DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=${CANARY};EndpointSuffix=core.windows.net`;

test('connection strings from the environment; flags for the rest; defaults for group and container', async () => {
  const s = await loadSettings({ consumerGroup: 'reauth-loops' }, { [ENV.eventHubConnectionString]: EH, [ENV.storageConnectionString]: ST });
  expect(s).toEqual({ eventHubConnectionString: EH, storageConnectionString: ST, consumerGroup: 'reauth-loops', checkpointContainer: 'reauth-loops-checkpoints' });
});

test('a config file is read, the environment overrides it, and unknown keys are refused', async () => {
  const f = tmp.sub('hub.json');
  writeFileSync(f, JSON.stringify({ namespace: 'contoso.servicebus.windows.net', eventHub: 'signins', storageAccountUrl: 'https://contoso.blob.core.windows.net', credential: 'workload-identity' }));
  const s = await loadSettings({ config: f }, {});
  expect(s).toMatchObject({ namespace: 'contoso.servicebus.windows.net', eventHub: 'signins', credential: 'workload-identity', consumerGroup: '$Default' });
  expect((await loadSettings({ config: f }, { [ENV.storageConnectionString]: ST })).storageConnectionString).toBe(ST);
  writeFileSync(f, JSON.stringify({ eventHubConnectionString: EH, storageConnectionString: ST, sharedAccesKey: 'typo' }));
  await expect(loadSettings({ config: f }, {})).rejects.toThrow(/Unknown key\(s\) in .*: sharedAccesKey/);
});

test('missing settings say what to set', async () => {
  await expect(loadSettings({}, {})).rejects.toThrow(new RegExp(`set ${ENV.eventHubConnectionString}.*or pass --namespace and --event-hub`));
  await expect(loadSettings({}, { [ENV.eventHubConnectionString]: EH })).rejects.toThrow(new RegExp(`set ${ENV.storageConnectionString}.*or pass --storage-account-url`));
});

test('a broken config file is reported without quoting it (it holds secrets)', async () => {
  const f = tmp.sub('broken.json');
  writeFileSync(f, `{"eventHubConnectionString": "${EH}",,}`);
  const err = await loadSettings({ config: f }, {}).catch((e: Error) => e);
  expect(String(err)).toMatch(/is not valid JSON/);
  expect(String(err)).not.toContain(CANARY);
});

test('redact removes registered secrets and anything shaped like a key', () => {
  registerSecret(EH);
  expect(redact(`failed to connect with ${EH}`)).not.toContain(CANARY);
  expect(redact(`raw key ${CANARY} in a message`)).toBe('raw key *** in a message');
  expect(redact('AccountKey=abc123;BlobEndpoint=x')).toBe('AccountKey=***;BlobEndpoint=x');
  expect(redact('https://a.blob.core.windows.net/c?sv=2024&sig=abc%2Bdef&se=1')).toBe('https://a.blob.core.windows.net/c?sv=2024&sig=***&se=1');
  expect(redact('Authorization: Bearer eyJhbGciOi.J9.abc')).toBe('Authorization: Bearer ***');
  expect(redact('SharedAccessSignature sr=x&sig=y&se=1&skn=z')).not.toMatch(/sig=y/);
});
