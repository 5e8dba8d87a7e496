import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

/** Shared by the benchmarks: the repo, the CLI, and the local hub as a separate process (as in real life). */
export const REPO = resolve(__dirname, '..', '..', '..');
export const CLI = join(REPO, 'bin', 'reauth-loops.js');

export function startHubProcess(partitions: number): Promise<{ proc: ChildProcess; connectionString: string }> {
  const proc = spawn(process.execPath, [CLI, 'dev-hub', '--port', '0', '--no-azurite', '--partitions', String(partitions)], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((done, fail) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = out.match(/REAUTH_EVENTHUB_CONNECTION_STRING='([^']+)'/);
      if (m) done({ proc, connectionString: m[1] });
    });
    proc.on('exit', (code) => fail(new Error(`dev-hub exited with code ${code} before it listened`)));
  });
}

export function runCli(args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
    p.on('exit', (code) => (code === 0 ? done() : fail(new Error(`reauth-loops ${args[0]} exited with code ${code}`))));
  });
}

export const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
export const int = (n: number) => Math.round(n).toLocaleString('en-US');

/** Rows of `label  value`, aligned. */
export function table(rows: string[][]): string {
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}
