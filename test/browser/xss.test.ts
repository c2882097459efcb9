/**
 * Agent-sent text is rendered as text, never as HTML: a host named `<img src=x onerror=alert(1)>`
 * with an iptables comment holding `<script>`, hostile interface and Docker network names and
 * route lines, sent over a real agent WebSocket. Every view is opened once with the CSP and once
 * with it off (`csp: false`, what `serve --no-csp` does): nothing runs — no dialog, no element
 * from the payload — and the text shows as written, in the tables and in the SVG pictures (the
 * overview's open errors, the topology map, the path diagram). A control proves the detector: the same
 * payload put through innerHTML does run without the CSP and is blocked with it.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP } from '../../src/aggregator/http/dashboard.js';
import { findingKey, type Finding } from '../../src/model/finding.js';
import { TestAgent, tinySnapshot } from '../helpers/aggregator-client.js';
import { launchBrowser, recordDialogs, startTestServer, type TestServer } from './harness.js';

const EVIL_HOST = '<img src=x onerror=alert(1)>';
const EVIL_COMMENT = '-A INPUT -s 10.9.0.6/32 -m comment --comment "<script>alert(2)</script>" -j DROP';
const EVIL_IFACE = '<svg onload=alert(4)>';
const EVIL_NETWORK = '<iframe src=javascript:alert(5)>';
const EVIL_ROUTE = '10.66.0.0/16 dev x proto static <script>alert(6)</script>';
const EVIL_TUNNEL = '<image href=x onerror=alert(8)>';

function evilSnapshot() {
  const s = tinySnapshot(EVIL_HOST, '10.9.0.5');
  const origin = { lineNumber: 4, text: `9: ${EVIL_IFACE}: <BROADCAST,MULTICAST,UP> mtu 1500`, source: 'ip-addr' };
  s.interfaces.push({ name: EVIL_IFACE, kind: 'bridge', flags: ['UP'], noCarrier: false, uplink: false, owner: { type: 'docker', name: EVIL_NETWORK }, origin,
    addresses: [{ ifname: EVIL_IFACE, family: 4, cidr: '10.66.0.1/16', scope: 'global', flags: [], origin }] });
  s.routes.addRecord({ family: 4, type: 'unicast', dst: '10.66.0.0/16', table: 'main', dev: EVIL_IFACE, flags: [], nexthops: [], origin: { lineNumber: 2, text: EVIL_ROUTE, source: 'ip-route-v4' } });
  return withTunnel(s, EVIL_TUNNEL, '10.77.0.1/24');
}

/** A WireGuard device in the 10.77.0.0/24 overlay: the map draws a tunnel edge with its name. */
function withTunnel(s: ReturnType<typeof tinySnapshot>, name: string, cidr: string) {
  const origin = { lineNumber: 5, text: `11: ${name}: <POINTOPOINT,UP> mtu 1420`, source: 'ip-addr' };
  s.interfaces.push({ name, kind: 'wireguard', flags: ['UP'], noCarrier: false, uplink: false, origin,
    addresses: [{ ifname: name, family: 4, cidr, scope: 'global', flags: [], origin }] });
  return s;
}

function evilFinding(): Finding {
  const subject = `INPUT drops 10.9.0.6 ${EVIL_HOST}`;
  return {
    check: 'firewall-drops-peer', severity: 'error', host: EVIL_HOST, subject, key: findingKey('firewall-drops-peer', EVIL_HOST, subject),
    summary: `${EVIL_HOST} drops peer 10.9.0.6 <b>bold</b>`, evidence: [{ source: 'iptables-save', lineNumber: 7, text: EVIL_COMMENT }, { source: 'ip-route-v4', lineNumber: 2, text: EVIL_ROUTE }],
    why: '<a href="javascript:alert(7)">why</a>', fix: ['<script>alert(3)</script>', `iptables -D INPUT -s 10.9.0.6/32 -j DROP # ${EVIL_IFACE}`], peers: ['10.9.0.6'],
    kernel: { status: 'confirmed', evidence: [`${EVIL_COMMENT}: +3 packets in 5 s`] },
  };
}

/**
 * Nothing from the payload may exist as an element; the page's only script is app.js. The
 * dashboard's own pictures are `svg.pic` (built with createElementNS, text as text nodes): any
 * other svg, any SVG <image> or <foreignObject>, any on* attribute came from a payload.
 */
async function assertInert(page: Page, dialogs: string[]): Promise<void> {
  await page.waitForTimeout(250); // an injected <img onerror> would fire within this (the control shows it does)
  expect(dialogs).toEqual([]);
  const census = await page.evaluate(() => ({
    img: document.querySelectorAll('img').length, svg: document.querySelectorAll('svg:not(.pic)').length, iframe: document.querySelectorAll('iframe').length,
    image: document.querySelectorAll('image, foreignObject, svg script').length,
    b: document.querySelectorAll('main b').length, scripts: [...document.scripts].map((s) => s.getAttribute('src')),
    jsLinks: [...document.querySelectorAll('a')].filter((a) => /^javascript:/i.test(a.getAttribute('href') ?? a.getAttribute('xlink:href') ?? '')).length,
    handlers: [...document.querySelectorAll('*')].flatMap((el) => [...el.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${el.tagName} ${a.name}`)),
  }));
  expect(census).toEqual({ img: 0, svg: 0, iframe: 0, image: 0, b: 0, scripts: ['/app.js'], jsLinks: 0, handlers: [] });
}

for (const csp of [true, false]) {
  describe(`XSS: agent text stays text (CSP ${csp ? 'on' : 'off'})`, () => {
    let srv: TestServer;
    let browser: Browser;
    let page: Page;
    let dialogs: string[];
    const key = evilFinding().key;

    beforeAll(async () => {
      [srv, browser] = await Promise.all([startTestServer({ csp }), launchBrowser()]);
      const ws = `ws://127.0.0.1:${srv.server.tcp!.port}/agent`;
      const evil = await TestAgent.connect(ws, EVIL_HOST, 'evil-token-0123456789abcdef');
      const peer = await TestAgent.connect(ws, 'peer', 'peer-token-0123456789abcdef');
      await peer.report(withTunnel(tinySnapshot('peer', '10.9.0.6'), 'wg0', '10.77.0.2/24'));
      await evil.report(evilSnapshot(), [evilFinding()]);
      evil.close();
      peer.close();
      page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      dialogs = recordDialogs(page);
    });
    afterAll(async () => {
      await browser?.close();
      await srv?.close();
    });

    it(`the server ${csp ? 'sends' : 'omits'} the Content-Security-Policy`, async () => {
      const res = await page.goto(`${srv.url}/`);
      expect(res?.headers()['content-security-policy']).toBe(csp ? DASHBOARD_CSP : undefined);
    });

    it('overview: the host name shows as written, nothing runs', async () => {
      await page.goto(`${srv.url}/#/`);
      await page.locator('#hosts tr.host-row').nth(1).waitFor();
      expect(await page.locator('#hosts tr.host-row a').allTextContents()).toContain(EVIL_HOST);
      await page.fill('#host-search', '10.66.0.0/16');
      expect(await page.locator('#hosts tr.host-row').count()).toBe(1);
      // The open errors above the table: the summary as written, linked to its finding.
      expect(await page.locator('#open-errors a.summary').allTextContents()).toEqual([evilFinding().summary]);
      expect(await page.locator('#open-errors li.open-error .meta a').first().textContent()).toBe(EVIL_HOST);
      await assertInert(page, dialogs);
    });

    it('topology map: host, bridge, Docker network, tunnel and the broken pair\'s cause as text', async () => {
      await page.goto(`${srv.url}/#/map`);
      const svg = page.locator('svg#topology');
      await svg.waitFor();
      expect(await svg.locator('a.host').evaluateAll((a) => a.map((x) => (x as SVGElement).dataset.host).sort())).toEqual([EVIL_HOST, 'peer'].sort());
      // The hostile host is the one without the peer's wg0 (its name is no safe CSS attribute value to select by).
      const host = svg.locator('a.host').filter({ hasNot: page.locator('[data-name="wg0"]') });
      expect(await host.locator('text.name').textContent()).toBe(`✖ ${EVIL_HOST.slice(0, 21)}…`);
      expect(await host.locator('> title').textContent()).toContain(EVIL_HOST);
      expect(await host.locator('g.chip.bridge title').textContent()).toBe(`bridge ${EVIL_IFACE} (docker ${EVIL_NETWORK}) 10.66.0.1/16`);
      expect(await host.locator('g.chip.tunnel title').textContent()).toBe(`wireguard ${EVIL_TUNNEL} 10.77.0.1/24`);
      expect(await svg.locator('path.tunnel-edge title').textContent()).toContain(EVIL_TUNNEL);
      expect(await svg.locator('a.edge-link > title').textContent()).toContain(evilFinding().summary);
      await page.fill('#map-search', EVIL_HOST);
      await expect.poll(() => svg.locator('a.host.match').count()).toBe(1);
      await page.fill('#map-search', '');
      await assertInert(page, dialogs);
    });

    it('path diagram: the hostile interface in the deciding route under the hop, as text', async () => {
      await page.goto(`${srv.url}/#/path?${new URLSearchParams({ from: EVIL_HOST, to: '10.66.0.9' })}`);
      const diagram = page.locator('#path-result svg.path-diagram').first();
      await diagram.waitFor();
      expect(await diagram.locator('g.hop').first().getAttribute('data-node')).toBe(EVIL_HOST);
      expect(await diagram.locator('g.hop').first().locator('title').first().textContent()).toContain(EVIL_IFACE);
      expect((await diagram.locator('g.hop text.rule').first().textContent())!.replace(/\s+/g, '')).toContain(EVIL_IFACE.replace(/\s+/g, ''));
      await assertInert(page, dialogs);
    });

    it('findings list and the finding: summary, evidence with the <script> comment, why and fix as text', async () => {
      await page.goto(`${srv.url}/#/findings`);
      await page.locator('#findings tr.finding-row').waitFor();
      expect(await page.locator('#findings a.summary').textContent()).toBe(evilFinding().summary);
      await assertInert(page, dialogs);
      await page.goto(`${srv.url}/#/finding/${encodeURIComponent(key)}`);
      await page.locator('#finding').waitFor();
      expect(await page.locator('.finding-summary').textContent()).toContain(`${EVIL_HOST} drops peer 10.9.0.6 <b>bold</b>`);
      expect(await page.locator('.evidence-text').allTextContents()).toEqual([EVIL_COMMENT, EVIL_ROUTE]);
      expect(await page.locator('.evidence-source').first().textContent()).toBe('iptables-save -c : line 7');
      expect(await page.locator('p.why').textContent()).toBe('<a href="javascript:alert(7)">why</a>');
      expect(await page.locator('pre.fix').textContent()).toContain('<script>alert(3)</script>');
      expect(await page.locator('#kernel .kernel-evidence li').allTextContents()).toEqual([`${EVIL_COMMENT}: +3 packets in 5 s`]);
      await assertInert(page, dialogs);
    });

    it('host page: interface, Docker network and route lines as text; the cited route highlighted', async () => {
      await page.goto(`${srv.url}/#/host/${encodeURIComponent(EVIL_HOST)}`);
      await page.locator('#interfaces').waitFor();
      expect(await page.locator('#host h1').textContent()).toBe(EVIL_HOST);
      expect(await page.locator('#interfaces td.owner').allTextContents()).toContain(`docker: ${EVIL_NETWORK}`);
      expect(await page.locator('ol.lines li.cited code').allTextContents()).toEqual([EVIL_ROUTE]);
      await assertInert(page, dialogs);
    });

    it('matrix and path: the broken pair and its cause as text', async () => {
      await page.goto(`${srv.url}/#/matrix`);
      const cell = page.locator('#matrix td.cell[data-verdict="broken"]').first();
      await cell.waitFor();
      expect(await cell.getAttribute('data-from')).toBe(EVIL_HOST);
      await cell.click();
      await page.locator('#cell-detail').waitFor();
      expect(await page.locator('#cell-detail .cause').textContent()).toContain(EVIL_HOST);
      await assertInert(page, dialogs);
      await page.locator('#cell-detail a.trace-link').click();
      await page.locator('#path-result section.leg, #path-result .error-box').first().waitFor();
      expect(await page.locator('#path-from option:checked').textContent()).toBe(EVIL_HOST);
      await assertInert(page, dialogs);
    });

    it(`control: the same payload through innerHTML ${csp ? 'is blocked by the CSP' : 'does run — the detector works'}`, async () => {
      await page.goto(`${srv.url}/#/`);
      await page.locator('#hosts').waitFor();
      const violations = await page.evaluate(async (payload) => {
        const seen: string[] = [];
        document.addEventListener('securitypolicyviolation', (e) => seen.push(e.violatedDirective));
        const div = document.createElement('div');
        div.innerHTML = payload;
        document.body.append(div);
        await new Promise((r) => setTimeout(r, 300));
        return seen;
      }, EVIL_HOST);
      if (csp) {
        expect(dialogs).toEqual([]);
        expect(violations.some((v) => v.startsWith('script-src'))).toBe(true);
      } else {
        await expect.poll(() => dialogs).toEqual(['alert: 1']);
        dialogs.length = 0;
      }
    });
  });
}
