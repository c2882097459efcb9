/**
 * The dashboard over a synthetic 1,000-host fleet in Debian's Chromium: the overview lists every
 * host (its render time is logged here and measured in the bench, `bench/dashboard.ts`: a timed
 * test fails on a busy machine), the search box finds hosts by name, address and CIDR, sorting
 * and the stale filter work, a finding can be acknowledged from the page, the matrix groups by
 * VPC, the topology map groups, fits and searches 1,000 hosts, and off-loopback-style viewer
 * tokens work through the `?token=` login cookie.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP } from '../../src/aggregator/http/dashboard.js';
import { findingKey, type Finding } from '../../src/model/finding.js';
import type { HostSnapshot } from '../../src/model/snapshot.js';
import { tinySnapshot } from '../helpers/aggregator-client.js';
import type { SqliteStore } from '../../src/aggregator/store-sqlite.js';
import { feed, launchBrowser, screenshot, startTestServer, type TestServer } from './harness.js';

const HOSTS = 1000;
const REGIONS = ['cn-hangzhou', 'cn-beijing', 'ap-southeast-1', 'eu-central-1'];

function fleetHost(i: number): HostSnapshot {
  const vpc = i % 4;
  const s = tinySnapshot(`web-${String(i).padStart(4, '0')}`, `10.${vpc}.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  s.identity.cloud = { provider: 'alibaba', region: REGIONS[vpc], vpcId: `vpc-${vpc}`, vpcCidrs: [`10.${vpc}.0.0/16`], subnetCidrs: [], privateIps: [] };
  return s;
}

function warningOf(host: string): Finding {
  const subject = 'rp_filter strict on eth0';
  return {
    check: 'rp-filter-strict', severity: 'warning', host, subject, key: findingKey('rp-filter-strict', host, subject),
    summary: `${host}: rp_filter=1 on eth0 drops asymmetric replies`, evidence: [{ source: 'sysctl', lineNumber: 3, text: 'net.ipv4.conf.eth0.rp_filter = 1' }],
    why: 'strict reverse-path filtering drops packets that arrive on an interface other than the one the reply would leave by', fix: ['sysctl -w net.ipv4.conf.eth0.rp_filter=2'],
  };
}

describe('dashboard over a 1,000-host fleet', () => {
  let srv: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    [srv, browser] = await Promise.all([startTestServer(), launchBrowser()]);
    const t = Date.now();
    for (let i = 0; i < HOSTS; i++) await feed(srv.server, fleetHost(i), i % 100 === 7 ? [warningOf(fleetHost(i).identity.name)] : []);
    // Five hosts silent for long enough to be stale (the first sweep persists the feed's heartbeats).
    await srv.server.aggregator.sweep();
    (srv.server.aggregator.store as SqliteStore).db.prepare("UPDATE hosts SET last_seen = '2020-01-01T00:00:00.000Z' WHERE name IN ('web-0001','web-0002','web-0003','web-0004','web-0005')").run();
    await srv.server.aggregator.sweep();
    console.log(`[browser] fed ${HOSTS} reports in ${Date.now() - t} ms`);
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.close();
  });

  it('renders the overview of 1,000 hosts, with the CSP header', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const response = await page.goto(`${srv.url}/`);
    expect(response?.headers()['content-security-policy']).toBe(DASHBOARD_CSP);
    await page.locator('#hosts tbody tr.host-row').nth(HOSTS - 1).waitFor({ state: 'attached' });
    const renderedAt = await page.evaluate(() => (window as unknown as { __hcOverviewRenderedAt: number }).__hcOverviewRenderedAt);
    // Logged, not asserted: the bench holds the 1 s target (it failed here at 1.5 s under a load average of 15).
    console.log(`[browser] overview of ${HOSTS} hosts rendered ${renderedAt.toFixed(0)} ms after navigation start`);
    expect(await page.locator('#hosts tr.stale').count()).toBe(5);
    await expect.poll(() => page.locator('.count').textContent()).toContain('1000 of 1000 hosts · 5 stale');
    console.log(`[browser] ${await screenshot(page, 'fleet-overview-1000')}`);
    await page.close();
  });

  it('finds a host by name, by an address it holds and by a CIDR; sorts; filters stale hosts', async () => {
    const page = await browser.newPage();
    await page.goto(`${srv.url}/`);
    const rows = page.locator('#hosts tbody tr.host-row');
    await rows.nth(HOSTS - 1).waitFor({ state: 'attached' });
    await page.fill('#host-search', 'web-0420');
    await expect.poll(() => rows.count()).toBe(1);
    await page.fill('#host-search', '10.2.1.173');
    await expect.poll(() => rows.evaluateAll((r) => r.map((x) => (x as HTMLElement).dataset.host))).toEqual(['web-0422']);
    await page.fill('#host-search', '10.3.3.0/24');
    await expect.poll(() => rows.count()).toBe(63);
    await page.fill('#host-search', '10.1.0.0/16');
    await expect.poll(() => rows.count()).toBe(250);
    await page.fill('#host-search', '');
    await expect.poll(() => rows.count()).toBe(HOSTS);
    await page.getByRole('button', { name: 'Findings' }).click();
    await expect.poll(() => rows.first().getAttribute('data-host')).toBe('web-0007');
    await page.selectOption('#host-filter', 'stale');
    await expect.poll(() => rows.evaluateAll((r) => r.map((x) => (x as HTMLElement).dataset.host))).toEqual(['web-0001', 'web-0002', 'web-0003', 'web-0004', 'web-0005']);
    await page.selectOption('#host-filter', 'all');
    await page.close();
  });

  it('acknowledges a finding from its page; the state shows without a reload', async () => {
    const page = await browser.newPage();
    const key = warningOf('web-0107').key;
    await page.goto(`${srv.url}/#/finding/${encodeURIComponent(key)}`);
    await page.locator('#finding').waitFor();
    expect(await page.locator('.evidence-source').first().textContent()).toBe('sysctl : line 3');
    await page.selectOption('#ack-form select[name=state]', 'silenced');
    await page.fill('#ack-form input[name=who]', 'alice');
    await page.fill('#ack-form input[name=why]', 'rollout of sysctl fix tomorrow');
    await page.click('#ack-form button[type=submit]');
    await expect.poll(() => page.locator('#finding').getAttribute('data-state')).toBe('silenced');
    expect(await page.locator('.ack-current').textContent()).toContain('silenced by alice: rollout of sysctl fix tomorrow');
    expect((await srv.server.aggregator.store.finding(key))?.state).toBe('silenced');
    await page.close();
  });

  it('groups the matrix by VPC (one VPC against one at 1,000 hosts) and shows stale hosts as unknown', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${srv.url}/#/matrix`);
    await page.locator('#matrix').waitFor();
    expect(await page.locator('#matrix th.row').count()).toBe(250);
    expect(await page.locator('#matrix th.col').count()).toBe(250);
    await page.selectOption('#matrix-rows', 'vpc-1');
    await expect.poll(() => page.locator('#matrix th.row').first().textContent()).toBe('web-0001');
    await page.selectOption('#matrix-cols', 'vpc-1');
    const cell = page.locator('#matrix td[data-from="web-0001"][data-to="web-0009"]');
    await cell.waitFor();
    expect(await cell.getAttribute('data-verdict')).toBe('unknown');
    expect(await cell.textContent()).toBe('?');
    await cell.hover();
    expect(await cell.getAttribute('title')).toContain('web-0001 is stale');
    await cell.click();
    await expect.poll(() => page.locator('#cell-detail').getAttribute('data-verdict')).toBe('unknown');
    await page.close();
  });

  it('draws the topology map of 1,000 hosts grouped by VPC and subnet; search and the VPC picker find hosts in it', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${srv.url}/#/map`);
    const svg = page.locator('svg#topology');
    await svg.waitFor();
    // Compact nodes (squares, the name on hover) at this size, every host on the map.
    expect(await svg.getAttribute('class')).toContain('compact');
    expect(await svg.locator('a.host').count()).toBe(HOSTS);
    expect(await svg.locator('g.group.vpc').count()).toBe(4);
    expect(await svg.locator('g.group.subnet').count()).toBe(16);
    expect(await svg.locator('g.group.subnet[data-vpc="vpc-2"][data-subnet="10.2.1.0/24"]').count()).toBe(1);
    expect(await svg.locator('a.host.s-stale').count()).toBe(5);
    expect(await svg.locator('a.host.s-warning').count()).toBe(10);
    expect(await svg.locator('a.host[data-host="web-0422"] > title').textContent()).toContain('web-0422 · 10.2.1.0/24 · vpc-2');
    // The whole fleet fits the view's width; + zooms in, fit goes back.
    const fit = Number(await svg.getAttribute('data-scale'));
    expect(fit).toBeLessThan(1);
    expect(await page.evaluate(() => document.getElementById('topology')!.getBoundingClientRect().width <= document.getElementById('map-scroll')!.clientWidth)).toBe(true);
    await page.click('#map-zoom-in');
    await expect.poll(async () => Number(await page.locator('svg#topology').getAttribute('data-scale'))).toBeCloseTo(fit * 1.25, 2);
    await page.click('#map-zoom-fit');
    await expect.poll(async () => Number(await page.locator('svg#topology').getAttribute('data-scale'))).toBeCloseTo(fit, 3);
    await page.fill('#map-search', 'web-0422');
    await expect.poll(() => svg.locator('a.host.match').evaluateAll((a) => a.map((x) => (x as SVGElement).dataset.host))).toEqual(['web-0422']);
    await page.fill('#map-search', '10.3.3.0/24');
    await expect.poll(() => svg.locator('a.host.match').count()).toBe(63);
    expect(await page.locator('#map-count').textContent()).toContain('63 matches');
    await page.fill('#map-search', '');
    await page.selectOption('#map-vpc', 'vpc-1');
    await expect.poll(() => svg.locator('a.host').count()).toBe(250);
    expect(await svg.locator('g.group.vpc').evaluateAll((g) => g.map((x) => (x as SVGElement).dataset.group))).toEqual(['vpc-1']);
    // 250 hosts: full nodes with their names.
    expect(await svg.getAttribute('class')).not.toContain('compact');
    expect(await svg.locator('a.host[data-host="web-0001"] text.name').textContent()).toBe('◌ web-0001');
    console.log(`[browser] ${await screenshot(page, 'fleet-map-vpc-1')}`);
    await page.selectOption('#map-vpc', '');
    await page.fill('#map-search', 'web-0422');
    console.log(`[browser] ${await screenshot(page, 'fleet-map-1000')}`);
    await page.close();
  });

  it('needs a viewer token when tokens are configured: ?token= sets an HttpOnly SameSite=Strict cookie', async () => {
    const file = join(tmpdir(), `hc-viewers-${process.pid}`);
    writeFileSync(file, 'viewer-token-0123456789abcdef alice\n');
    const guarded = await startTestServer({ viewerTokensFile: file });
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      const denied = await page.goto(`${guarded.url}/`);
      expect(denied?.status()).toBe(401);
      expect((await page.request.get(`${guarded.url}/api/hosts`)).status()).toBe(401);
      expect((await page.goto(`${guarded.url}/?token=wrong-token-0123456789`))?.status()).toBe(401);
      await page.goto(`${guarded.url}/?token=viewer-token-0123456789abcdef#/findings`);
      expect(page.url()).toBe(`${guarded.url}/#/findings`);
      const [cookie] = await context.cookies();
      expect(cookie).toMatchObject({ name: 'hostcheck_viewer', httpOnly: true, sameSite: 'Strict' });
      await page.locator('body[data-view="findings"]').waitFor();
      await expect.poll(() => page.evaluate(() => document.body.dataset.live)).toBe('live');
      expect(await page.evaluate(() => document.cookie)).toBe('');
      await context.close();
    } finally {
      await guarded.close();
    }
  });
});
