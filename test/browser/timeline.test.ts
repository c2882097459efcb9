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
import { feed, launchBrowser, recordDialogs, screenshot, startTestServer, until, type TestServer } from './harness.js';

const KEY = 'route-captures-peer|ecs3|docker0 172.17.0.0/16 captures 172.17.0.64';
const EVIL = '<img src=x onerror=alert(1)>';

describe('dashboard: the timeline', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let dialogs: string[];
  let changes: HostChange[];
  let fleetChanges: number;

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
    // ECS1 and ECS2 as agents that saw their routing daemon and DHCP client at work in the last hours.
    const iso = (agoMs: number): string => new Date(Date.now() - agoMs).toISOString();
    const others: [string, HostChange[]][] = [
      ['ecs1', [
        { at: iso(5 * 3_600_000), lastAt: iso(1_800_000), count: 10, kind: 'route', action: 'rewritten', subject: 'route default via 172.17.0.1 dev eth0', before: 'default via 172.17.0.1 dev eth0 proto dhcp metric 100', after: 'default via 172.17.0.1 dev eth0 proto dhcp metric 100', owner: { type: 'dhcp' } },
        { at: iso(2 * 3_600_000), count: 1, kind: 'route', action: 'added', subject: 'route 10.200.0.0/20 via 172.17.0.1 dev eth0', after: '10.200.0.0/20 via 172.17.0.1 dev eth0 proto bird metric 32', owner: { type: 'routing-daemon', name: 'bird' } },
      ]],
      ['ecs2', [
        { at: iso(3 * 3_600_000), count: 1, kind: 'sysctl', action: 'changed', subject: 'net.ipv4.conf.all.rp_filter', before: 'net.ipv4.conf.all.rp_filter = 0', after: 'net.ipv4.conf.all.rp_filter = 1', owner: { type: 'unknown' } },
        // Found at the agent's start: made while it was stopped, between 2 h and 1 h ago.
        { at: iso(3_600_000), between: { from: iso(2 * 3_600_000), until: iso(3_600_000) }, count: 1, kind: 'route', action: 'added', subject: 'route 10.9.0.0/24 via 172.18.1.253 dev eth0', after: '10.9.0.0/24 via 172.18.1.253 dev eth0 proto static', owner: { type: 'unknown' } },
      ]],
    ];
    for (const [name, log] of others) await feed(server.server, await scenarioSnapshot('first-incident', name), [], log);
    fleetChanges = changes.length + others.reduce((n, [, log]) => n + log.length, 0);
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

  it('shows the fleet with host links, the latest activity first, and zooms with the window buttons', async () => {
    await page.goto(`${server.url}/#/timeline?window=21600000`);
    await page.waitForSelector('svg.timeline-chart');
    expect(await page.locator('svg.timeline-chart text.host-name').allTextContents()).toEqual(['ecs3', 'ecs1', 'ecs2']);
    expect(await page.locator('svg.timeline-chart a[href="#/host/ecs3"] text.host-name').textContent()).toBe('ecs3');
    expect(await page.locator('svg.timeline-chart g.change').count()).toBe(fleetChanges);
    const titles = await page.locator('svg.timeline-chart g.change > title').allTextContents();
    expect(titles.some((x) => x.startsWith('route 10.200.0.0/20 via 172.17.0.1 dev eth0 appeared (a routing daemon (bird))\n'))).toBe(true);
    expect(titles.some((x) => x.includes('10 times until'))).toBe(true);
    // The change found at ECS2's agent's start: its words say so, a dashed line spans the hour it may have happened in.
    const stopped = page.locator('svg.timeline-chart g.change.while-stopped');
    expect(await stopped.count()).toBe(1);
    expect(await stopped.locator('title').textContent()).toMatch(/^route 10\.9\.0\.0\/24 via 172\.18\.1\.253 dev eth0 appeared, while the agent was stopped \(some time between .+, agent clock\)\nfound at the agent's start /);
    const span = stopped.locator('line.span.stopped');
    const width = Number(await span.getAttribute('x2')) - Number(await span.getAttribute('x1'));
    // One hour of the six the window shows: a sixth of the 850 units of the axis.
    expect(Math.abs(width - 850 / 6)).toBeLessThan(3);
    await screenshot(page, 'timeline-fleet');
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

  it('draws a large fleet 50 hosts at a time and lists the newest 200 changes until asked for all', async () => {
    const base = await scenarioSnapshot('first-incident', 'ecs2');
    for (let i = 0; i < 60; i++) {
      const snap = { ...base, identity: { ...base.identity, name: `node-${String(i).padStart(2, '0')}` } };
      const at = (k: number): string => new Date(Date.now() - (i + 1) * 10_000 - k * 1000).toISOString();
      await feed(server.server, snap, [], [0, 1, 2, 3].map((k) => ({ at: at(k), count: 1, kind: 'sysctl' as const, action: 'changed' as const, subject: `net.ipv4.conf.veth${k}.forwarding`, before: `net.ipv4.conf.veth${k}.forwarding = 0`, after: `net.ipv4.conf.veth${k}.forwarding = 1`, owner: { type: 'unknown' as const } })));
    }
    const total = fleetChanges + 240;
    await page.goto(`${server.url}/#/timeline?window=86400000`);
    await page.waitForSelector('svg.timeline-chart');
    expect(await page.locator('.timeline-pager').textContent()).toMatch(/^Hosts 1–50 of 63, latest activity first\./);
    // the nodes changed in the last ten minutes, ecs1 half an hour and ecs2 three hours ago: they are on the second page.
    expect((await page.locator('svg.timeline-chart text.host-name').allTextContents()).slice(0, 3)).toEqual(['ecs3', 'node-00', 'node-01']);
    expect(await page.locator('svg.timeline-chart text.host-name').count()).toBe(50);
    expect(await page.locator('table.changes tbody tr').count()).toBe(200);
    expect(await page.locator('.table-more').textContent()).toContain(`The newest 200 of ${total} changes.`);
    await page.locator('.table-more button').click();
    await until('every change listed', async () => page.url().includes('changes=all') && (await page.locator('table.changes tbody tr').count()) === total);
    await page.locator('.timeline-pager button', { hasText: 'hosts 51–63 →' }).click();
    await until('the second page of hosts', async () => page.url().includes('rows=50') && (await page.locator('svg.timeline-chart text.host-name').count()) === 13);
    // The window and "show all" stay in the address, so a live update's re-read keeps them.
    expect(page.url()).toContain('window=86400000');
    expect(await page.locator('table.changes tbody tr').count()).toBe(total);
    expect((await page.locator('svg.timeline-chart text.host-name').allTextContents()).slice(-2)).toEqual(['ecs1', 'ecs2']);
    expect(await page.locator('.timeline-pager').textContent()).toMatch(/^Hosts 51–63 of 63/);
  });
});
