/**
 * Cross-site requests and DNS rebinding, from real Chromium. A page on another origin (another
 * host name, and another port of the same host — "same-site" for the viewer cookie) tries to
 * acknowledge a finding the ways a page can: a no-cors fetch with a text/plain body, a
 * text/plain form, a JSON fetch (preflighted). The finding stays open and the server counts each
 * refusal (so the requests did arrive). The dashboard's own page still acknowledges. A name that
 * resolves to the server (Chromium's --host-resolver-rules) gets 403 for the dashboard and the
 * API, unless the server was told it serves that name (`publicNames`, `serve --public-name`).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findingKey, type Finding } from '../../src/model/finding.js';
import { TestAgent, tinySnapshot } from '../helpers/aggregator-client.js';
import { launchBrowser, startTestServer, until, type TestServer } from './harness.js';

const VIEWER = 'viewer-token-0123456789abcdef';
const subject = 'eth0 drops 10.1.0.9';
const finding: Finding = { check: 'rp-filter-drop', severity: 'error', host: 'h1', subject, key: findingKey('rp-filter-drop', 'h1', subject), summary: 'rp_filter drops 10.1.0.9', evidence: [], why: 'w', fix: ['f'] };

async function withFinding(srv: TestServer): Promise<void> {
  const a = await TestAgent.connect(`ws://127.0.0.1:${srv.server.tcp!.port}/agent`, 'h1', 'h1-token-0123456789abcdef');
  await a.report(tinySnapshot('h1', '10.1.0.1'), [finding]);
  a.close();
}

/** A page that tries three ways to acknowledge `target`'s finding, then sets window.done. */
function attackPage(target: string): string {
  const url = `${target}/api/findings/${encodeURIComponent(finding.key)}/ack`;
  const body = JSON.stringify({ who: 'mallory', why: 'silenced from elsewhere' });
  return `<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="POST" enctype="text/plain" action="${url}" target="sink"><input type="hidden" name='${body.slice(0, -2)}' value='${body.slice(-2)}'></form>
<script>
window.results = [];
(async () => {
  try { await fetch(${JSON.stringify(url)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(body)} }); window.results.push('no-cors sent'); } catch (e) { window.results.push('no-cors ' + e); }
  try { const r = await fetch(${JSON.stringify(url)}, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(body)} }); window.results.push('json ' + r.status); } catch (e) { window.results.push('json blocked'); }
  document.getElementById('f').submit();
  setTimeout(() => { window.done = true; }, 500);
})();
</script></body></html>`;
}

async function serveAttacker(html: string): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

const refusals = async (srv: TestServer): Promise<number> => {
  let n = 0;
  for (const m of (await srv.server.aggregator.metrics.text()).matchAll(/^hostcheck_http_refused_total\{reason="(?:origin|content_type)"\} (\d+)$/gm)) n += Number(m[1]);
  return n;
};

describe('cross-site requests from Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser(['--host-resolver-rules=MAP rebind.test 127.0.0.1']);
  });
  afterAll(async () => {
    await browser?.close();
  });

  for (const c of [
    { name: 'another origin (loopback, no viewer tokens)', viewer: false, attackerHost: 'localhost' },
    { name: 'another port of the same host, with the viewer cookie', viewer: true, attackerHost: '127.0.0.1' },
  ]) {
    it(`a page from ${c.name} cannot acknowledge a finding; the dashboard itself can`, async () => {
      const srv = await startTestServer(c.viewer ? { credentials: { agents: new Map(), enrolment: new Map(), viewers: (await import('../../src/aggregator/auth.js')).parseViewerTokens(VIEWER) } } : {});
      const attacker = await serveAttacker(attackPage(srv.url));
      const context = await browser.newContext();
      try {
        await withFinding(srv);
        const page = await context.newPage();
        // Logged in to the dashboard: the HttpOnly SameSite=Strict cookie is set for 127.0.0.1.
        if (c.viewer) await page.goto(`${srv.url}/?token=${VIEWER}`);
        const before = await refusals(srv);
        await page.goto(`http://${c.attackerHost}:${attacker.port}/`);
        await until('the attack page done', () => page.evaluate(() => (window as unknown as { done?: boolean }).done === true));
        const results = await page.evaluate(() => (window as unknown as { results: string[] }).results);
        expect(results).toEqual(['no-cors sent', 'json blocked']);
        // The no-cors fetch and the form reached the server and were refused there.
        await until('both refusals counted', async () => (await refusals(srv)) >= before + 2);
        expect((await srv.server.aggregator.store.finding(finding.key))!.state).toBe('open');
        // The dashboard's own page (same origin) acknowledges through the same API.
        await page.goto(`${srv.url}/`);
        const status = await page.evaluate(async (key) => (await fetch(`/api/findings/${encodeURIComponent(key)}/ack`, {
          method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ who: 'alice', why: 'known' }),
        })).status, finding.key);
        expect(status).toBe(200);
        expect((await srv.server.aggregator.store.finding(finding.key))!.state).toBe('acknowledged');
      } finally {
        await context.close();
        await new Promise((r) => attacker.server.close(r));
        await srv.close();
      }
    });
  }

  it('a name that resolves to the server (DNS rebinding) gets 403 for the dashboard and the API, unless the server serves that name', async () => {
    const refuses = await startTestServer();
    const serves = await startTestServer({ publicNames: ['rebind.test'] });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const open = async (port: number) => {
        const res = await page.goto(`http://rebind.test:${port}/`);
        const api = await page.evaluate(async () => (await fetch('/api/hosts')).status);
        return { page: res!.status(), api };
      };
      expect(await open(refuses.server.tcp!.port)).toEqual({ page: 403, api: 403 });
      expect(JSON.parse((await page.textContent('body'))!).error).toMatch(/does not answer to the name "rebind\.test:\d+"/);
      // The control: Chromium did reach this server under that name.
      expect(await open(serves.server.tcp!.port)).toEqual({ page: 200, api: 200 });
    } finally {
      await context.close();
      await refuses.close();
      await serves.close();
    }
  });
});
