import { promises as fsp } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/identity';
import { CliError } from '../errors';
import { Lake } from './lake';

/** A lake in Blob Storage or ADLS Gen2: where it is, split from a URL like https://acct.blob.core.windows.net/lake/signins. */
export interface BlobLakeLocation {
  accountUrl: string;
  container: string;
  prefix: string;
}

export function isBlobUrl(lake: string): boolean {
  return /^https?:\/\//i.test(lake);
}

/**
 * https://<account>.blob.core.windows.net/<container>[/<prefix>] (also *.dfs.core.windows.net, read through the Blob
 * endpoint), or Azurite's http://127.0.0.1:<port>/<account>/<container>[/<prefix>].
 */
export function parseBlobLake(url: string): BlobLakeLocation {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError(`--lake ${JSON.stringify(url)} is neither a folder nor a Blob URL like https://<account>.blob.core.windows.net/<container>/<prefix>.`, 2);
  }
  if (u.search || u.hash) throw new CliError('A Blob lake URL takes no query string: put SAS tokens and keys in the environment, not in the URL.', 2);
  const parts = u.pathname.split('/').filter(Boolean);
  const pathStyle = /^(localhost|\d+\.\d+\.\d+\.\d+|\[.*\])$/.test(u.hostname); // Azurite: the account is in the path
  const account = pathStyle ? parts.shift() : undefined;
  const container = parts.shift();
  if (!container || (pathStyle && !account)) throw new CliError(`The Blob lake URL ${url} names no container.`, 2);
  const host = u.host.replace('.dfs.core.windows.net', '.blob.core.windows.net');
  return { accountUrl: `${u.protocol}//${host}${account ? `/${account}` : ''}`, container, prefix: parts.join('/') };
}

/**
 * Mirrors a local lake folder (the spool) into Blob Storage. The spool is where files are written, fsynced,
 * deduplicated against and counted, exactly as for a local lake; a file counts as committed once its blob is
 * committed. Block blobs become visible only when their block list is committed, so readers never see part
 * of a file; uploads use If-None-Match: * and never overwrite a Parquet file.
 */
export class BlobMirror {
  constructor(readonly container: ContainerClient, readonly prefix: string) {}

  static open(loc: BlobLakeLocation, auth: { connectionString?: string; credential?: TokenCredential }): BlobMirror {
    const service = auth.connectionString ? BlobServiceClient.fromConnectionString(auth.connectionString) : new BlobServiceClient(loc.accountUrl, auth.credential);
    if (auth.connectionString && service.url.replace(/\/+$/, '') !== loc.accountUrl.replace(/\/+$/, '')) {
      throw new CliError(`The storage connection string is for ${service.url}, but the lake is in ${loc.accountUrl}. Use one account for both, or sign in with Microsoft Entra.`, 2);
    }
    return new BlobMirror(service.getContainerClient(loc.container), loc.prefix);
  }

  private blobName(lake: Lake, path: string): string {
    const rel = relative(lake.root, path).split(sep).join('/');
    return this.prefix ? `${this.prefix}/${rel}` : rel;
  }

  /** Upload committed Parquet files; one already there (an earlier try that died before its checkpoint) is kept. */
  async pushFiles(lake: Lake, files: readonly string[]): Promise<number> {
    let n = 0;
    for (const f of files) {
      try {
        await this.container.getBlockBlobClient(this.blobName(lake, f)).uploadFile(f, { conditions: { ifNoneMatch: '*' }, blobHTTPHeaders: { blobContentType: 'application/vnd.apache.parquet' } });
        n++;
      } catch (e) {
        const status = (e as { statusCode?: number }).statusCode;
        if (status !== 409 && status !== 412) throw e;
      }
    }
    return n;
  }

  /**
   * Download the Parquet files other consumers (on other machines, with other spools) uploaded into these
   * partitions, so the next landing deduplicates against them too: after a hand-over the new owner re-reads
   * what the old one landed but had not checkpointed.
   */
  async fetchPartitions(lake: Lake, dirs: readonly string[]): Promise<number> {
    let n = 0;
    for (const dir of dirs) {
      const have = new Set(await fsp.readdir(dir).catch(() => [] as string[]));
      for await (const b of this.container.listBlobsFlat({ prefix: `${this.blobName(lake, dir)}/` })) {
        const name = b.name.slice(b.name.lastIndexOf('/') + 1);
        if (!name.endsWith('.parquet') || have.has(name)) continue;
        await this.download(b.name, join(dir, name));
        n++;
      }
    }
    return n;
  }

  private async download(blob: string, dest: string): Promise<void> {
    await fsp.mkdir(dirname(dest), { recursive: true });
    const tmp = `${dest}.${process.pid}.download`;
    await this.container.getBlobClient(blob).downloadToFile(tmp);
    await fsp.rename(tmp, dest);
  }

  /** Quarantine files and summaries grow or change: each upload replaces the blob whole. */
  async pushReplace(lake: Lake, path: string): Promise<void> {
    await this.container.getBlockBlobClient(this.blobName(lake, path)).uploadFile(path);
  }

  /**
   * At start: upload every whole Parquet file of the spool the container lacks. A crash between landing a
   * file in the spool and uploading it leaves such a file; its events are past the checkpoint and will be
   * re-read, but dedupe against the spool would drop them, so the file itself must still go up.
   */
  async reconcile(lake: Lake): Promise<number> {
    if (!(await this.container.exists())) await this.container.create();
    const remote = new Set<string>();
    for await (const b of this.container.listBlobsFlat({ prefix: this.prefix ? `${this.prefix}/sign_ins/` : 'sign_ins/' })) remote.add(b.name);
    const { files } = await lake.files();
    return this.pushFiles(lake, files.filter((f) => !remote.has(this.blobName(lake, f))));
  }

  /** Download the lake's Parquet files (and quarantine, summaries) that `dir` lacks, each renamed in whole. */
  async pull(dir: string): Promise<{ downloaded: number; present: number }> {
    const base = this.prefix ? `${this.prefix}/` : '';
    let downloaded = 0;
    let present = 0;
    for await (const b of this.container.listBlobsFlat({ prefix: base })) {
      const rel = b.name.slice(base.length);
      if (!/^(sign_ins\/date=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/[^/]+\.parquet|quarantine\/[^/]+\.ndjson|_imports\/[^/]+\.json)$/.test(rel)) continue;
      const dest = join(dir, ...rel.split('/'));
      const st = await fsp.stat(dest).catch(() => null);
      if (st && st.size === b.properties.contentLength && rel.endsWith('.parquet')) {
        present++;
        continue;
      }
      await this.download(b.name, dest);
      downloaded++;
    }
    return { downloaded, present };
  }
}
