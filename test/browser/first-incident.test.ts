/**
 * The first incident in a real browser: `hostcheck serve` in the root namespace, one real
 * `hostcheck agent` per lab host (ip netns exec, over the aggregator's unix socket), and
 * Debian's Chromium on the aggregator's loopback port. The page shows ECS3's docker0 finding,
 * opens it, shows ECS3's docker0 and the pair ecs1 ↔ ecs3 as a red edge on the topology map, the
 * matrix cell ecs1 → ecs3 broken with its cause, traces ecs1 → ecs3, and sees the finding resolve
 * live (no reload) after `ip link del docker0` on ECS3 (and the map lose the edge).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { repoRoot } from '../helpers/samples.js';
import { describeLab, useLab } from '../lab/suite.js';
import { firstIncident } from '../lab/topologies.js';
import { launchBrowser, screenshot, until as waitFor } from './harness.js';

const bin = join(repoRoot, 'bin', 'hostcheck');
const HOSTS = ['router', 'ecs1', 'ecs2', 'ecs3'];
const CHECK = 'route-captures-peer';

interface StoredFindingLike { finding: { key: string; check: string; host: string; summary: string; kernel?: { status: string } }; state: string }

describeLab('dashboard: the first incident with real agents', () => {
  const lab = useLab(firstIncident());
  const tmp = mkdtempSync(join(tmpdir(), 'hc-browser-lab-'));
  const socket = join(tmp, 'agg.sock');
  const children: ResultPromise[] = [];
  let url = '';
  let browser: Browser;
  let page: Page;
  let findingKey = '';

  const api = async <T>(path: string): Promise<T> => (await (await fetch(`${url}${path}`)).json()) as T;

  beforeAll(async () => {
    const serve = execa(process.execPath, [bin, 'serve', '--listen', '127.0.0.1:0', '--socket', socket, '--db', join(tmp, 'agg.db')], { reject: false });
    children.push(serve);
    let stderr = '';
    serve.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const port = await waitFor('serve listening', () => /http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)?.[1], 15_000);
    url = `http://127.0.0.1:${port}`;
    for (const host of HOSTS) {
      writeFileSync(join(tmp, `token-${host}`), `agent-token-${host}-0123456789abcdef\n`);
      children.push(execa('ip', ['netns', 'exec', lab().ns(host), process.execPath, bin, 'agent', '--server', `ws+unix://${socket}`, '--name', host,
        '--no-cloud', '--token-file', join(tmp, `token-${host}`), '--state-dir', join(tmp, 'state'), '--log-level', 'warn'], { reject: false }));
    }
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const found = await waitFor('the docker0 finding from the agents', async () => {
      const { findings } = await api<{ findings: StoredFindingLike[] }>(`/api/findings?check=${CHECK}&host=ecs3&state=open`);
      // The fleet may store it first (no kernel to ask); ECS3's agent confirms it once its context names ecs1.
      return findings.find((f) => f.finding.summary.includes('docker0') && f.finding.summary.includes('ecs1') && f.finding.kernel?.status === 'confirmed');
    }, 30_000);
    findingKey = found.finding.key;
  });

  afterAll(async () => {
    await browser?.close();
    for (const c of children.reverse()) c.kill('SIGTERM');
    await Promise.all(children);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('the overview lists the four hosts with ecs3 carrying an error', async () => {
    const t = Date.now();
    await page.goto(`${url}/`);
    await page.locator('#hosts tr.host-row[data-host="ecs3"].has-error').waitFor();
    // Agents report independently: the fourth may land a moment after ecs3's.
    await expect.poll(() => page.locator('#hosts tr.host-row').count(), { timeout: 15_000 }).toBe(4);
    console.log(`[browser-lab] overview shown ${Date.now() - t} ms after goto: ${await screenshot(page, 'overview')}`);
  });

  it('shows the docker0 finding and opens it: evidence with its command and line, why, fix', async () => {
    await page.goto(`${url}/#/findings?check=${CHECK}`);
    const row = page.locator(`#findings tr.finding-row[data-key="${findingKey}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('docker0');
    await row.locator('a.summary').click();
    await page.locator('#finding[data-state="open"]').waitFor();
    const evidence = await page.locator('.evidence li').allTextContents();
    expect(evidence.some((e) => e.includes('ip -4 route show table all : line') && e.includes('172.17.0.0/16 dev docker0'))).toBe(true);
    expect(await page.locator('pre.fix').textContent()).toMatch(/docker|bip|route/);
    // ECS3's agent asked its kernel the reply's route: docker0, as the simulator said.
    expect(await page.locator('#kernel .kernel').textContent()).toContain('confirmed');
    const kernel = await page.locator('#kernel .kernel-evidence li').allTextContents();
    expect(kernel.some((e) => /^ip route get 172\.17\.0\.64 from 172\.31\.4\.18: .*dev docker0.* \(the simulator agrees\)$/.test(e)), kernel.join('\n')).toBe(true);
    console.log(`[browser-lab] finding: ${await screenshot(page, 'finding')}`);
  });

  it('the host page shows each finding\'s kernel status and the counters window', async () => {
    await page.goto(`${url}/#/host/ecs3`);
    const row = page.locator(`#host tr.finding-row[data-key="${findingKey}"]`);
    await row.waitFor();
    expect(await row.locator('.kernel').textContent()).toContain('confirmed');
    expect(await page.locator('#host h2', { hasText: 'Kernel counters' }).count()).toBe(1);
  });

  it('the topology map shows ECS3\'s docker0 (no carrier) and the pair ecs1 ↔ ecs3 as a red edge with the cause', async () => {
    await page.goto(`${url}/#/map`);
    const svg = page.locator('svg#topology');
    await expect.poll(() => svg.locator('a.host').count(), { timeout: 15_000 }).toBe(4);
    const docker0 = svg.locator('a.host[data-host="ecs3"] g.chip.bridge[data-name="docker0"]');
    expect(await docker0.getAttribute('class')).toContain('no-carrier');
    const edge = svg.locator('a.edge-link[data-from="ecs1"][data-to="ecs3"], a.edge-link[data-from="ecs3"][data-to="ecs1"]');
    expect(await edge.locator('> title').textContent()).toContain('docker0 172.17.0.0/16');
    expect(await edge.getAttribute('href')).toMatch(/^#\/finding\//);
    console.log(`[browser-lab] map: ${await screenshot(page, 'map')}`);
  });

  it('the matrix shows ecs1 → ecs3 broken, with its cause on hover and on click', async () => {
    await page.goto(`${url}/#/matrix`);
    const cell = page.locator('#matrix td[data-from="ecs1"][data-to="ecs3"]');
    await cell.waitFor();
    expect(await cell.getAttribute('data-verdict')).toBe('broken');
    expect(await cell.textContent()).toBe('✗');
    expect(await page.locator('#matrix td[data-from="ecs2"][data-to="ecs3"]').getAttribute('data-verdict')).toBe('ok');
    // Hover fills the title; a live update may re-render the matrix in between (a new cell, no
    // title yet), so move off and hover again until the cell under the pointer has it.
    const title = await waitFor('the hovered cell\'s title', async () => {
      await page.locator('#matrix th.corner').hover();
      await cell.hover();
      return (await cell.getAttribute('title')) ?? undefined;
    });
    expect(title).toContain('docker0');
    await cell.click();
    await page.locator('#cell-detail[data-verdict="broken"]').waitFor();
    expect(await page.locator('#cell-detail .cause').textContent()).toContain('docker0 172.17.0.0/16');
    // The pair is in the address: a re-render (what a live update does) shows it again.
    expect(await page.evaluate(() => location.hash)).toMatch(/from=ecs1&to=ecs3/);
    await page.evaluate(() => {
      document.getElementById('cell-detail')!.dataset.before = 'refresh';
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    });
    await page.locator('#cell-detail[data-verdict="broken"]:not([data-before])').waitFor();
    console.log(`[browser-lab] matrix: ${await screenshot(page, 'matrix')}`);
  });

  it('traces ecs1 → ecs3: the request is delivered, the reply goes into docker0', async () => {
    await page.locator('#cell-detail a.trace-link').click();
    await page.locator('#path-result section.leg').first().waitFor();
    expect(await page.inputValue('#path-to')).toBe('ecs3');
    const request = page.locator('#path-result section.leg').first();
    expect(await request.getAttribute('data-outcome')).toBe('delivered');
    expect(await request.locator('tr.hop').evaluateAll((r) => r.map((x) => (x as HTMLElement).dataset.node))).toEqual(['ecs1', 'router', 'ecs3']);
    // The reply's first hop is the cause: ECS3's route 172.17.0.0/16 dev docker0 (no carrier) ends it.
    const reply = page.locator('#path-result section.leg').nth(1);
    expect(await reply.getAttribute('data-outcome')).not.toBe('delivered');
    const first = reply.locator('tr.hop').first();
    expect(await first.getAttribute('data-node')).toBe('ecs3');
    expect(await first.locator('td.note').textContent()).toContain('172.17.0.0/16 dev docker0');
    console.log(`[browser-lab] path: ${await screenshot(page, 'path')}`);
  });

  it('sees the finding resolve live after `ip link del docker0` on ECS3', async () => {
    await page.goto(`${url}/#/finding/${encodeURIComponent(findingKey)}`);
    await page.locator('#finding[data-state="open"]').waitFor();
    await waitFor('the live stream', () => page.evaluate(() => document.body.dataset.live === 'live' || undefined));
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));
    const t = Date.now();
    await lab().applyFix('ecs3', 'ip link del docker0');
    await page.locator('#finding[data-state="resolved"]').waitFor({ timeout: 20_000 });
    console.log(`[browser-lab] bridge removed → page shows resolved in ${Date.now() - t} ms`);
    expect(navigations).toEqual([]);
    expect(await page.locator('.finding-resolved').textContent()).not.toContain('not resolved');
    await page.goto(`${url}/#/matrix`);
    await page.locator('#matrix td[data-from="ecs1"][data-to="ecs3"][data-verdict="ok"]').waitFor();
    // The map: docker0 and the red edge are gone.
    await page.goto(`${url}/#/map`);
    await page.locator('svg#topology a.host[data-host="ecs3"]').waitFor();
    expect(await page.locator('svg#topology g.chip[data-name="docker0"]').count()).toBe(0);
    expect(await page.locator('svg#topology a.edge-link').count()).toBe(0);
  });
});
