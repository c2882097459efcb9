/**
 * The dashboard's pictures in Debian's Chromium, over lab-captured snapshots: the first incident
 * (router, ecs1–3; ECS3's docker0 captures ecs1's replies), the second incident's client and VPC
 * router with its topology file (the VPN gateway loops 10.64.3.22's packets), and two hosts with a
 * WireGuard overlay. Host findings come from running the host checks on each snapshot with the
 * others as peers, as an agent would. Content, not timing (the bench times 1,000 hosts):
 * - the overview leads with the open errors, newest first, each linked to its finding;
 * - the topology map groups hosts by VPC and subnet, shows bridges and tunnels, draws the broken
 *   pairs red with their cause on hover, and searches by name, address and CIDR;
 * - the path diagram shows each hop with its deciding route or rule, the break, the loop, the
 *   packet encrypted at the VPN gateway leaving the known fleet.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeSnapshot } from '../../src/checks/analyze.js';
import { loadTopology } from '../../src/collect/topology-file.js';
import { findingKey, type Finding } from '../../src/model/finding.js';
import type { HostSnapshot } from '../../src/model/snapshot.js';
import { repoRoot } from '../helpers/samples.js';
import { scenarioSnapshot, tempDir, tinySnapshot } from '../helpers/aggregator-client.js';
import { feed, launchBrowser, screenshot, startTestServer, type TestServer } from './harness.js';

const uplinkAddresses = (s: HostSnapshot): string[] => s.interfaces.filter((i) => i.uplink).flatMap((i) => i.addresses).filter((a) => a.family === 4).map((a) => a.cidr.split('/')[0]);

/** A host with a WireGuard device in the 10.99.0.0/24 overlay. */
function wgHost(name: string, address: string, overlay: string): HostSnapshot {
  const s = tinySnapshot(name, address);
  s.identity.cloud = { provider: 'alibaba', region: 'cn-hangzhou', vpcId: 'vpc-wg', vpcCidrs: ['192.168.0.0/16'], subnetCidrs: ['192.168.7.0/24'], privateIps: [] };
  const origin = { lineNumber: 3, text: `5: wg0: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1420`, source: 'ip-addr' };
  s.interfaces.push({ name: 'wg0', kind: 'wireguard', flags: ['UP'], noCarrier: false, uplink: false, origin,
    addresses: [{ ifname: 'wg0', family: 4, cidr: `${overlay}/24`, scope: 'global', flags: [], origin }] });
  return s;
}

function laterError(host: string): Finding {
  const subject = 'eth0 mtu';
  return {
    check: 'route-kills-traffic', severity: 'error', host, subject, key: findingKey('route-kills-traffic', host, subject),
    summary: `${host}: blackhole 10.99.0.0/24 drops the WireGuard overlay (a synthetic finding the test adds)`, evidence: [], why: 'to order the overview', fix: [],
  };
}

describe('dashboard pictures', () => {
  const tmp = tempDir();
  let srv: TestServer;
  let browser: Browser;
  let page: Page;
  let docker0Key = '';

  beforeAll(async () => {
    const topologyFile = join(tmp.dir, 'cloud.yaml');
    copyFileSync(join(repoRoot, 'fixtures', 'topology', 'second-incident.yaml'), topologyFile);
    [srv, browser] = await Promise.all([startTestServer({ topology: await loadTopology(topologyFile) }), launchBrowser()]);
    const first = await Promise.all(['router', 'ecs1', 'ecs2', 'ecs3'].map((h) => scenarioSnapshot('first-incident', h)));
    const second = await Promise.all(['client', 'vpcrouter'].map((h) => scenarioSnapshot('second-incident', h)));
    for (const snap of first) {
      const peers = first.filter((o) => o !== snap && o.identity.name !== 'router').flatMap((o) => uplinkAddresses(o).map((address) => ({ address, name: o.identity.name })));
      const { findings } = analyzeSnapshot(snap, { peers, remotes: [], ports: [], ignore: [] });
      await feed(srv.server, snap, findings);
    }
    for (const snap of second) await feed(srv.server, snap);
    await feed(srv.server, wgHost('wg-a', '192.168.7.10', '10.99.0.1'));
    await feed(srv.server, wgHost('wg-b', '192.168.7.11', '10.99.0.2'));
    const docker0 = (await srv.server.aggregator.store.findings({ check: 'route-captures-peer', host: 'ecs3' })).find((f) => f.finding.summary.includes('docker0'));
    expect(docker0, 'ECS3\'s docker0 finding from the host checks').toBeDefined();
    docker0Key = docker0!.finding.key;
    // A second error, opened later: the overview must list it first.
    await new Promise((r) => setTimeout(r, 20));
    await feed(srv.server, wgHost('wg-a', '192.168.7.10', '10.99.0.1'), [laterError('wg-a')]);
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(10_000);
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.close();
    tmp.remove();
  });

  it('overview: the open errors lead, newest first, each a link to its finding', async () => {
    await page.goto(`${srv.url}/#/`);
    const items = page.locator('#open-errors li.open-error');
    await items.nth(1).waitFor();
    const open = (await srv.server.aggregator.store.findings({ severity: 'error', state: 'open' }))
      .sort((a, b) => Date.parse(b.firstSeen) - Date.parse(a.firstSeen) || a.finding.key.localeCompare(b.finding.key));
    expect(open.length).toBeGreaterThanOrEqual(3);
    expect(open[0].finding.host).toBe('wg-a');
    await expect.poll(() => items.evaluateAll((li) => li.map((x) => (x as HTMLElement).dataset.key))).toEqual(open.map((f) => f.finding.key));
    const docker0 = page.locator(`#open-errors li.open-error[data-key="${docker0Key}"] a.summary`);
    expect(await docker0.textContent()).toContain('docker0');
    expect(await docker0.getAttribute('href')).toBe(`#/finding/${encodeURIComponent(docker0Key)}`);
    expect(await page.locator('#open-errors h2').textContent()).toContain(`${open.length} open errors`);
    // The host table is still there, below.
    expect(await page.locator('#hosts tr.host-row').count()).toBe(8);
    console.log(`[pictures] ${await screenshot(page, 'pictures-overview')}`);
    await docker0.click();
    await page.locator(`#finding[data-state="open"]`).waitFor();
    expect(await page.locator('.finding-summary').textContent()).toContain('docker0');
  });

  it('map: VPCs and subnets as groups, hosts with bridges and tunnels, the broken pair red with its cause on hover', async () => {
    await page.goto(`${srv.url}/#/map`);
    const svg = page.locator('svg#topology');
    await svg.waitFor();
    expect(await svg.locator('a.host').count()).toBe(8);
    const subnets = await svg.locator('g.group.subnet').evaluateAll((g) => g.map((x) => (x as SVGElement).dataset.subnet));
    expect(subnets).toContain('172.31.0.0/20');
    expect(subnets).toContain('172.17.0.0/24');
    expect(subnets).toContain('192.168.7.0/24');
    // ecs1 and the router share a subnet box (ECS3's docker0 overlaps it: the first incident).
    const inSubnet = await page.evaluate(() => {
      const box = document.querySelector('svg#topology g.subnet[data-subnet="172.17.0.0/24"] rect')!.getBoundingClientRect();
      return ['ecs1', 'router'].map((n) => {
        const r = document.querySelector(`svg#topology a.host[data-host="${n}"] rect`)!.getBoundingClientRect();
        return r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom;
      });
    });
    expect(inSubnet).toEqual([true, true]);
    const ecs3 = svg.locator('a.host[data-host="ecs3"]');
    expect(await ecs3.getAttribute('data-status')).toBe('error');
    const docker0 = ecs3.locator('g.chip.bridge[data-name="docker0"]');
    expect(await docker0.getAttribute('class')).toContain('no-carrier');
    expect(await docker0.locator('title').textContent()).toBe('bridge docker0 (docker bridge) 172.17.0.1/16 — no carrier');
    // The WireGuard overlay: a dashed tunnel edge between wg-a and wg-b.
    expect(await svg.locator('path.tunnel-edge').evaluateAll((p) => p.map((x) => `${(x as SVGElement).dataset.from}-${(x as SVGElement).dataset.to}`))).toEqual(['wg-a-wg-b']);
    // The broken pair: a red edge between ecs3 and ecs1, the cause in its hover title and in the panel.
    const edge = svg.locator('a.edge-link[data-from="ecs1"][data-to="ecs3"], a.edge-link[data-from="ecs3"][data-to="ecs1"]');
    const edges = await svg.locator('a.edge-link').evaluateAll((a) => a.map((x) => [(x as SVGElement).dataset.from, (x as SVGElement).dataset.to].sort().join('-')));
    expect(edges).toContain('ecs1-ecs3');
    const title = await edge.first().locator('title').textContent();
    expect(title).toContain('broken');
    expect(title).toContain('docker0');
    // Hover a point on the curve itself (its box's centre may be off the stroke, or under a node).
    const point = await edge.first().evaluate((a) => {
      const hit = a.querySelector('path.edge-hit') as SVGPathElement;
      const total = hit.getTotalLength();
      for (let t = 0.5, k = 1; k < 40; t = 0.5 + (k % 2 ? 1 : -1) * Math.ceil(k / 2) * 0.025, k++) {
        const p = hit.getPointAtLength(total * t);
        const screen = new DOMPoint(p.x, p.y).matrixTransform(hit.getScreenCTM()!);
        if (a.contains(document.elementFromPoint(screen.x, screen.y))) return { x: screen.x, y: screen.y };
      }
      return null;
    });
    expect(point, 'a visible point on the broken edge').not.toBeNull();
    await page.mouse.move(point!.x, point!.y);
    await expect.poll(() => page.locator('#map-detail .cause').textContent()).toContain('docker0');
    // The VPN gateway the topology's fleet finding pairs with the client is outside the fleet.
    expect(await svg.locator('g.external').evaluateAll((g) => g.map((x) => (x as SVGElement).dataset.name))).toContain('vpn-bp1gw000000000000001');
    expect(edges).toContain('client-vpn-bp1gw000000000000001');
    // Keyboard focus on that edge puts its cause in the panel too.
    await svg.locator('a.edge-link[data-from="client"][data-to="vpn-bp1gw000000000000001"]').focus();
    await expect.poll(() => page.locator('#map-detail .cause').textContent()).toContain('IPsec connection vco-bp1conn0000000000001');
    console.log(`[pictures] ${await screenshot(page, 'pictures-map')}`);
    await page.mouse.click(point!.x, point!.y);
    await page.locator('#finding').waitFor();
  });

  it('map: the search lights up hosts by name, address and CIDR; the VPC picker shows one group', async () => {
    await page.goto(`${srv.url}/#/map`);
    await page.locator('svg#topology').waitFor();
    const matches = () => page.locator('svg#topology a.host.match').evaluateAll((a) => a.map((x) => (x as SVGElement).dataset.host).sort());
    await page.fill('#map-search', 'ecs');
    await expect.poll(matches).toEqual(['ecs1', 'ecs2', 'ecs3']);
    expect(await page.locator('svg#topology a.host.unmatched').count()).toBe(5);
    await page.fill('#map-search', '192.168.7.11');
    await expect.poll(matches).toEqual(['wg-b']);
    await page.fill('#map-search', '192.168.7.0/24');
    await expect.poll(matches).toEqual(['wg-a', 'wg-b']);
    expect(await page.locator('#map-count').textContent()).toContain('2 matches');
    await page.fill('#map-search', '');
    const vpcs = await page.locator('#map-vpc option').evaluateAll((o) => o.map((x) => (x as HTMLOptionElement).value));
    expect(vpcs).toEqual(['', 'no VPC', 'vpc-wg']);
    await page.selectOption('#map-vpc', 'vpc-wg');
    await expect.poll(() => page.locator('svg#topology g.group.vpc').count()).toBe(1);
    expect(await page.locator('svg#topology a.host').evaluateAll((a) => a.map((x) => (x as SVGElement).dataset.host))).toEqual(['wg-a', 'wg-b']);
    await page.selectOption('#map-vpc', '');
  });

  it('path diagram: ecs1 → ecs3 is delivered hop by hop; the reply breaks at ECS3\'s docker0 route, marked', async () => {
    await page.goto('about:blank'); // a hash change alone would leave the last diagram up while the new one loads
    await page.goto(`${srv.url}/#/path?from=ecs1&to=ecs3`);
    const diagrams = page.locator('#path-result svg.path-diagram');
    await diagrams.nth(1).waitFor();
    const request = diagrams.first();
    expect(await request.getAttribute('data-outcome')).toBe('delivered');
    expect(await request.locator('g.hop').evaluateAll((g) => g.map((x) => (x as SVGElement).dataset.node))).toEqual(['ecs1', 'router', 'ecs3']);
    // Under each hop, the rule or route that decided it: the same note as the hop table's.
    const notes = await request.locator('g.hop text.rule').evaluateAll((t) => t.map((x) => [...x.querySelectorAll('tspan')].map((s) => s.textContent).join(' ')));
    const tableNotes = await page.locator('#path-result section.leg').first().locator('td.note').allTextContents();
    const squash = (t: string): string => t.replace(/\s+/g, '').replace(/…$/, '');
    expect(notes).toHaveLength(tableNotes.length);
    notes.forEach((n, i) => expect(squash(tableNotes[i]).startsWith(squash(n)) && squash(n).length > 0, `${n} | ${tableNotes[i]}`).toBe(true));
    expect(await request.locator('.delivered-mark').textContent()).toContain('delivered');
    const reply = diagrams.nth(1);
    expect(await reply.getAttribute('data-outcome')).not.toBe('delivered');
    const broken = reply.locator('g.hop.break');
    expect(await broken.getAttribute('data-node')).toBe('ecs3');
    expect((await broken.locator('text.rule').textContent())!.replace(/\s+/g, '')).toContain('172.17.0.0/16devdocker0');
    expect(await reply.locator('g.break-mark title').textContent()).toBe(await page.locator('#path-result section.leg').nth(1).locator('p.detail').textContent().then((t) => t!.replace(/^\S+ /, '')));
    console.log(`[pictures] ${await screenshot(page, 'pictures-path')}`);
  });

  it('path diagram: 10.64.3.22 loops at the VPN gateway — a cloud node, and the arrow back', async () => {
    await page.goto('about:blank'); // a hash change alone would leave the last diagram up while the new one loads
    await page.goto(`${srv.url}/#/path?from=client&to=10.200.1.15&source=10.64.3.22`);
    const diagram = page.locator('#path-result svg.path-diagram').first();
    await diagram.waitFor();
    expect(await diagram.getAttribute('data-outcome')).toBe('loop');
    const cloud = await diagram.locator('g.hop.cloud').evaluateAll((g) => g.map((x) => (x as SVGElement).dataset.node));
    expect(cloud.some((n) => n!.startsWith('vpn-gateway'))).toBe(true);
    expect(await diagram.locator('g.hop.in-loop').count()).toBeGreaterThan(1);
    expect(await diagram.locator('g.loop-arrow text').textContent()).toMatch(/^↻ loops back to vpn-gateway /);
    expect(await diagram.locator('g.loop-arrow title').textContent()).toMatch(/^loop: vpn-gateway .* → vpcrouter → vpn-gateway /);
    console.log(`[pictures] ${await screenshot(page, 'pictures-path-loop')}`);
  });

  it('path diagram: 10.16.1.5 inside the selector is encrypted at the VPN gateway and leaves the known fleet', async () => {
    await page.goto('about:blank'); // a hash change alone would leave the last diagram up while the new one loads
    await page.goto(`${srv.url}/#/path?from=client&to=10.200.1.15&source=10.16.1.5`);
    const diagram = page.locator('#path-result svg.path-diagram').first();
    await diagram.waitFor();
    expect(await diagram.getAttribute('data-outcome')).toBe('left');
    const last = diagram.locator('g.hop').last();
    expect(await last.getAttribute('data-action')).toBe('encrypt');
    expect(await last.getAttribute('class')).toContain('cloud');
    expect(await last.locator('text.act').textContent()).toContain('🔒 encrypt');
    expect(await diagram.locator('g.left-mark text.node').textContent()).toBe('↗ left the known fleet');
    expect(await diagram.locator('g.hop.break, g.break-mark, g.loop-arrow').count()).toBe(0);
  });
});
