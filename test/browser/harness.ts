/**
 * Browser-test helpers: Debian's Chromium driven by playwright-core, an aggregator started
 * in-process on a loopback port, synthetic reports fed straight into it, and the screenshot
 * folder (test-results/dashboard/, ignored by git).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer, type RunningServer, type ServeOptions } from '../../src/aggregator/server.js';
import type { HostChange } from '../../src/model/changes.js';
import type { Finding } from '../../src/model/finding.js';
import type { HostSnapshot } from '../../src/model/snapshot.js';
import { repoRoot } from '../helpers/samples.js';
import { hello, reportOf } from '../helpers/aggregator-client.js';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = join(repoRoot, 'test-results', 'dashboard');

/** Chromium; `args` adds flags (e.g. --host-resolver-rules for a name that resolves to loopback). */
export async function launchBrowser(args: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', ...args],
  });
}

/** Save a screenshot under test-results/dashboard/NAME.png; returns the path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

export interface TestServer {
  server: RunningServer;
  url: string;
  close(): Promise<void>;
}

/** An aggregator on 127.0.0.1:<free port> with a throw-away database. */
export async function startTestServer(options: Partial<ServeOptions> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'hc-browser-'));
  const server = await startServer({ listen: '127.0.0.1:0', db: join(dir, 'agg.db'), contextDelayMs: 5, ...options });
  return {
    server, url: `http://127.0.0.1:${server.tcp!.port}`,
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const seqs = new Map<string, number>();

/**
 * Commit one report for `snapshot`'s host straight into the aggregator (no socket: bulk fleets);
 * with `changes`, as a protocol-3 agent sending its change log.
 */
export async function feed(server: RunningServer, snapshot: HostSnapshot, findings: Finding[] = [], changes: HostChange[] = []): Promise<void> {
  const name = snapshot.identity.name;
  const seq = (seqs.get(`${server.tcp?.port}:${name}`) ?? 0) + 1;
  seqs.set(`${server.tcp?.port}:${name}`, seq);
  const report = { ...reportOf(seq, snapshot, findings), ...(changes.length ? { changes } : {}) };
  const agent = hello(name, 'unused-token-0123456789');
  await server.aggregator.report(changes.length ? { ...agent, protocol: 3 } : agent, report, JSON.stringify(report).length);
}

/** Dialogs (alert/confirm/prompt) a page opened: any one in an XSS test means script ran. */
export function recordDialogs(page: Page): string[] {
  const seen: string[] = [];
  page.on('dialog', (d) => {
    seen.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  return seen;
}

/** Poll an (async) predicate every 100 ms until it gives a value; throws naming `what` after `timeoutMs`. */
export async function until<T>(what: string, predicate: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const started = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await predicate();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
