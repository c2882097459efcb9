/**
 * The timeline view in Chromium (docs/timeline.md, docs/dashboard.md): ECS3 as the lab captured
 * it without docker0 and then with it (fixtures/scenarios), reported to a real aggregator with
 * the changes `hostcheck diff`'s comparison finds between the two and the finding the second
 * opens. The SVG chart draws one mark per change and the finding's bar, linked to the finding's
 * page, which names the trigger; the window buttons zoom; a hostile change stays text.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changesBetween } from '../../src/changes/diff.js';
import { changeState } from '../../src/changes/state.js';
import { analyzeSnapshot } from '../../src/checks/analyze.js';
import type { HostChange } from '../../src/model/changes.js';
import { hello, reportOf, scenarioSnapshot } from '../helpers/aggregator-client.js';
import { launchBrowser, recordDialogs, screenshot, startTestServer, until, type TestServer } from './harness.js';

const KEY = 'route-captures-peer|ecs3|docker0 172.17.0.0/16 captures 172.17.0.64';
const EVIL = '<img src=x onerror=alert(1)>';

describe('dashboard: the timeline', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let dialogs: string[];
  let changes: HostChange[];

  beforeAll(async () => {
    server = await startTestServer();
    const before = await scenarioSnapshot('first-incident-no-docker0', 'ecs3');
    const after = await scenarioSnapshot('first-incident', 'ecs3');
    const options = { peers: [{ address: '172.17.0.64', name: 'ecs1' }], remotes: [], ports: [], ignore: [] };
    const agg = server.server.aggregator;
    const send = (seq: number, snapshot: typeof before, extra: HostChange[] = []) => {
      const report = { ...reportOf(seq, snapshot, analyzeSnapshot(snapshot, options).findings), ...(extra.length ? { changes: extra } : {}) };
      agg.report({ ...hello('ecs3', 'unused-token-0123456789'), protocol: 3 }, report, JSON.stringify(report).length);
    };
    send(1, before);
    changes = [
      ...changesBetween(changeState(before), changeState(after), new Date(Date.now() - 1000).toISOString()),
      { at: new Date(Date.now() - 1500).toISOString(), count: 3, kind: 'sysctl', action: 'changed', subject: `net.ipv4.conf.${EVIL}.rp_filter`, before: `x = ${EVIL}`, after: 'x = 1', owner: { type: 'unknown' } },
    ];
    send(2, after, changes);
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    dialogs = recordDialogs(page);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('draws ECS3\'s changes and the finding they opened, linked to the finding, which names its trigger', async () => {
    await page.goto(`${server.url}/#/timeline?host=ecs3`);
    await page.waitForSelector('svg.timeline-chart g.change');
    expect(await page.locator('svg.timeline-chart g.change').count()).toBe(changes.length);
    const titles = await page.locator('svg.timeline-chart g.change > title').allTextContents();
    expect(titles.some((t) => t.startsWith('docker0 172.17.0.1/16 appeared (Docker network "bridge", guessed from the name)\n'))).toBe(true);
    expect(titles.some((t) => t.includes('after: inet 172.17.0.1/16 scope global docker0'))).toBe(true);
    const bar = page.locator(`svg.timeline-chart rect.finding-bar[data-key="${KEY}"]`);
    expect(await bar.count()).toBe(1);
    const barTitle = await bar.locator('title').textContent();
    expect(barTitle).toMatch(/^error: docker0 172\.17\.0\.0\/16 .* captures replies to ecs1 172\.17\.0\.64/);
    expect(barTitle).toContain('opened 1 s after docker0 172.17.0.1/16 appeared (Docker network "bridge", guessed from the name)');
    expect(await page.locator('table.changes tbody tr').count()).toBe(changes.length);
    await screenshot(page, 'timeline-host');
    await bar.click();
    await page.waitForSelector('dd.finding-trigger');
    expect(page.url()).toContain(`#/finding/${encodeURIComponent(KEY)}`);
    expect(await page.locator('dd.finding-trigger').textContent()).toContain('opened 1 s after docker0 172.17.0.1/16 appeared');
  });

  it('shows the fleet with host links, and zooms with the window buttons', async () => {
    await page.goto(`${server.url}/#/timeline`);
    await page.waitForSelector('svg.timeline-chart');
    expect(await page.locator('svg.timeline-chart a[href="#/host/ecs3"] text.host-name').textContent()).toBe('ecs3');
    await page.locator('.timeline-zoom button', { hasText: '15 min' }).click();
    await until('the 15-minute window', async () => page.url().includes('window=900000') && (await page.locator('svg.timeline-chart g.change').count()) === changes.length);
    // A window before anything happened is empty.
    await page.goto(`${server.url}/#/timeline?since=1000&until=2000`);
    await page.waitForSelector('p.empty');
    expect(await page.locator('svg.timeline-chart').count()).toBe(0);
  });

  it('keeps an agent\'s hostile change as text: nothing runs, no element from it', async () => {
    await page.goto(`${server.url}/#/timeline?host=ecs3`);
    await page.waitForSelector('table.changes');
    expect(await page.locator('table.changes').textContent()).toContain(`net.ipv4.conf.${EVIL}.rp_filter changed from ${EVIL} to 1`);
    expect(await page.locator('main img, svg img').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });
});
