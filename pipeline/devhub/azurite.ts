// Azurite's Blob service as a child process on a free loopback port, for the checkpoint store in
// tests and `reauth-loops dev-hub`. No Docker: the azurite npm package is a dev dependency.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface Azurite {
  port: number;
  blobEndpoint: string;
  connectionString: string;
  close(): Promise<void>;
}

const ACCOUNT = 'devstoreaccount1';
// Azurite's published development key (node_modules/azurite/README.md, "Default Storage Account").
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const LISTENING = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/;

/** Starts Azurite Blob; in memory unless `dir` is given (or `inMemory: false` with a `dir`). */
export async function startAzurite(opts: { dir?: string; inMemory?: boolean } = {}): Promise<Azurite> {
  const inMemory = opts.inMemory ?? opts.dir === undefined;
  if (!inMemory && opts.dir === undefined) throw new TypeError('startAzurite: pass a dir to persist in, or inMemory: true');
  if (!inMemory) mkdirSync(opts.dir!, { recursive: true });
  const packageJson = require.resolve('azurite/package.json');
  const bin = (JSON.parse(readFileSync(packageJson, 'utf8')) as { bin: Record<string, string> }).bin['azurite-blob'];
  const main = join(dirname(packageJson), bin);
  const args = [main, '--blobHost', '127.0.0.1', '--blobPort', '0', '--skipApiVersionCheck', '--disableTelemetry', '--loose'];
  // --silent drops the per-request access log; the startup lines we parse are still printed.
  args.push('--silent', ...(inMemory ? ['--inMemoryPersistence'] : ['--location', opts.dir!]));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // An orphaned Azurite would hold the port and the data; take it down with us.
  const killOnExit = () => child.kill();
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill();
      reject(
        new Error(
          `Azurite did not start: ${why}.\nIts output:\n${output.trim() || '(none)'}\n` +
            `Check that the azurite package is installed (npm ci) and try it by hand: node ${main} --inMemoryPersistence --blobPort 0`,
        ),
      );
    };
    const timer = setTimeout(() => fail(`no "successfully listens" line within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      const match = LISTENING.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.off('exit', onEarlyExit);
      child.stdout.off('data', onOutput);
      child.stderr.off('data', onOutput);
      // Keep draining both pipes so Azurite never blocks on a full one.
      child.stdout.resume();
      child.stderr.resume();
      resolve(Number(match[1]));
    };
    const onEarlyExit = (code: number | null, signal: string | null) => fail(`it exited early (${signal ?? `code ${code}`})`);
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.once('error', (error) => fail(error.message));
    child.once('exit', onEarlyExit);
  });

  const blobEndpoint = `http://127.0.0.1:${port}/${ACCOUNT}`;
  return {
    port,
    blobEndpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`,
    close: async () => {
      process.off('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const stubborn = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(stubborn);
      }
    },
  };
}
