import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ContainerClient } from '@azure/storage-blob';
import { startAzurite } from '../../pipeline/devhub/azurite';
import { startDevHub, type DevHub } from '../../pipeline/devhub/server';
import { ENV } from '../../pipeline/sources/eventhub';
import { REPO } from './tmp';

/**
 * The real services a streaming test needs, on loopback and on free ports: the project's local Event Hubs
 * and Azurite (both as used by `npm start`). One set per test file; stopped in afterAll.
 */
export interface Services {
  hub: DevHub;
  /** The hub's one-line log (connections, links, faults), for tests that need to see a fault happen. */
  hubLog: string[];
  hubName: string;
  eventHubConnectionString: string;
  storageConnectionString: string;
  env: Record<string, string>;
  container: (name: string) => ContainerClient;
  stop: () => Promise<void>;
}

export async function startServices(opts: { partitions?: number; hubName?: string; moreHubs?: string[] } = {}): Promise<Services> {
  const hubName = opts.hubName ?? 'signins';
  const hubs = [hubName, ...(opts.moreHubs ?? [])].map((name) => ({ name, partitions: opts.partitions ?? 4 }));
  const hubLog: string[] = [];
  const hub = await startDevHub({ port: 0, hubs, log: (l) => hubLog.push(l) });
  const azurite = await startAzurite({ inMemory: true }).catch(async (e) => {
    await hub.close();
    throw e;
  });
  const eventHubConnectionString = hub.connectionString(hubName);
  return {
    hub,
    hubLog,
    hubName,
    eventHubConnectionString,
    storageConnectionString: azurite.connectionString,
    env: { [ENV.eventHubConnectionString]: eventHubConnectionString, [ENV.storageConnectionString]: azurite.connectionString },
    container: (name) => new ContainerClient(azurite.connectionString, name),
    stop: async () => {
      killChildren();
      await hub.close();
      await azurite.close();
    },
  };
}

/** The built CLI as a child process (npm test builds dist/ first), with its stdout lines collected. */
export interface CliChild {
  proc: ChildProcess;
  lines: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first JSON log line that matches. */
  waitFor: (pred: (e: Record<string, unknown>) => boolean, timeoutMs?: number) => Promise<Record<string, unknown>>;
}

const children = new Set<ChildProcess>();
/** For afterAll: a failed test must not leave consumers running. */
export function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}

export function spawnCli(args: string[], env: Record<string, string>): CliChild {
  const proc = spawn(process.execPath, [join(REPO, 'bin', 'reauth-loops.js'), ...args], { env: { ...process.env, ...env }, cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  const lines: string[] = [];
  const stderr: string[] = [];
  const waiters: Array<{ pred: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }> = [];
  let partial = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(l) as Record<string, unknown>;
      } catch {
        continue;
      }
      for (const w of [...waiters]) if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => stderr.push(c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const waitFor = (pred: (e: Record<string, unknown>) => boolean, timeoutMs = 60_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      for (const l of lines) {
        try {
          const e = JSON.parse(l) as Record<string, unknown>;
          if (pred(e)) return resolve(e);
        } catch {
          /* not a log line */
        }
      }
      const t = setTimeout(() => reject(new Error(`no matching log line in ${timeoutMs} ms; stdout:\n${lines.slice(-20).join('\n')}\nstderr:\n${stderr.join('').slice(-2000)}`)), timeoutMs);
      waiters.push({ pred, resolve: (e) => (clearTimeout(t), resolve(e)) });
      void exited.then(() => setTimeout(() => reject(new Error(`process exited before a matching log line; stderr:\n${stderr.join('').slice(-2000)}`)), 100));
    });
  return { proc, lines, stderr, exited, waitFor };
}

/** Which consumer owns each partition of a hub, from the checkpoint store's ownership blobs. */
export async function owners(container: ContainerClient, hub: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const b of container.listBlobsFlat({ includeMetadata: true })) {
    const m = b.name.match(/^[^/]+\/([^/]+)\/[^/]+\/ownership\/(.+)$/);
    if (m && m[1] === hub.toLowerCase()) out.set(m[2], b.metadata?.ownerid ?? '');
  }
  return out;
}

export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
