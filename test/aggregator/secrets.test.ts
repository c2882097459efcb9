/**
 * No secrets travel. Each kind is planted — an IPsec pre-shared key and private keys (swanctl
 * `secrets`, ipsec.secrets entries, a PEM key, libreswan raw RSA parts), registry and proxy
 * credentials in daemon.json — and looked for in every place hostcheck keeps or sends text:
 * capture (TypeScript and hostcheck-capture.sh), a bundle written and read, a sosreport read, the
 * agent's report, and the aggregator's store when an agent sends them anyway.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildReportMessage, prepareSnapshot } from '../../src/agent/report.js';
import { Aggregator } from '../../src/aggregator/aggregator.js';
import { emptyCredentials } from '../../src/aggregator/auth.js';
import { AggregatorMetrics } from '../../src/aggregator/metrics.js';
import { SqliteStore } from '../../src/aggregator/store-sqlite.js';
import { analyzeSnapshot } from '../../src/checks/analyze.js';
import { openBundles } from '../../src/collect/bundle-open.js';
import { readBundle, writeBundle } from '../../src/collect/bundle.js';
import { collectBundle } from '../../src/collect/collect.js';
import { redactSecrets } from '../../src/collect/redact.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import { repoRoot } from '../helpers/samples.js';
import { tinySnapshot } from '../helpers/aggregator-client.js';

const tmp = mkdtempSync(join(tmpdir(), 'hc-secrets-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every planted secret: none of these strings may appear anywhere hostcheck keeps or sends. */
const SECRETS = ['0sFpZAZqEN6Ti9sqt4ZP5E', 'hunter2-passphrase', '4711-pin', 'psk with spaces', 'rsa-key-passphrase', 'carol-xauth-pw', 'MIIEowIBAAKCAQEA7', 'c0ffee-private-exponent', 'proxypass', 'mirrorpw', 'registry-pw-1', 'bare-secret-no-equals'];

const SWANCTL = `connections {
    vpc-to-cloud {
        local_addrs = 10.100.1.18
        remote_addrs = 198.51.100.2
        local { auth = psk }
        remote { auth = psk }
        children { net { local_ts = 10.16.0.0/16
                         remote_ts = 10.200.0.0/20 } }
    }
}
secrets {
    ike-cloud {
        id = 198.51.100.2
        secret = "0sFpZAZqEN6Ti9sqt4ZP5E"
    }
    private-gw { file = gw.pem
      secret=hunter2-passphrase }
    token-1 { pin = 4711-pin }
    eap-x { secret bare-secret-no-equals }
}
`;
const IPSEC_CONF = `config setup
conn cloud
    left=10.100.1.18
    leftsubnet=10.16.0.0/16
    right=198.51.100.2
    rightsubnet=10.200.0.0/20
    authby=secret
    auto=start
# pasted by mistake from ipsec.secrets:
10.100.1.18 198.51.100.2 : PSK "psk with spaces"
: RSA /etc/ipsec.d/private/gw.pem "rsa-key-passphrase"
@carol : XAUTH "carol-xauth-pw"
: RSA {
    PrivateExponent: 0xc0ffee-private-exponent
}
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA7
-----END RSA PRIVATE KEY-----
`;
const DAEMON_JSON = `{
  "bip": "10.250.0.1/24",
  "proxies": { "http-proxy": "http://proxyuser:proxypass@proxy.example:3128", "no-proxy": "localhost" },
  "registry-mirrors": ["https://mirroruser:mirrorpw@mirror.example"],
  "registry-password": "registry-pw-1"
}
`;

function expectNoSecret(what: string, text: string): void {
  for (const s of SECRETS) expect(text.includes(s), `${what} holds "${s}"`).toBe(false);
}

describe('redaction rules', () => {
  it('the TypeScript rules and hostcheck-capture.sh --redact give the same bytes, with every secret gone and every line kept', () => {
    for (const [name, text] of [['swanctl.conf', SWANCTL], ['ipsec.conf', IPSEC_CONF], ['daemon.json', DAEMON_JSON], ['no final newline', 'secret = x'], ['empty', '']]) {
      const ts = redactSecrets(text);
      const sh = execFileSync('sh', [join(repoRoot, 'hostcheck-capture.sh'), '--redact'], { input: text }).toString('utf8');
      expect(sh, name).toBe(ts.text);
      expectNoSecret(name, ts.text);
      expect(ts.text.split('\n').length, name).toBe(text.split('\n').length);
    }
    expect(redactSecrets(SWANCTL).text).toContain('local_ts = 10.16.0.0/16');
    expect(redactSecrets(DAEMON_JSON).text).toContain('"http-proxy": "http://<redacted>@proxy.example:3128"');
    expect(redactSecrets(DAEMON_JSON).count).toBe(3);
  });

  it('what the parsers read is the same after redaction (selectors, bip)', () => {
    const bundle = { meta: { bundleFormat: 1, hostcheckVersion: 't', argv: [], hostname: 'gw', startedAt: '', durationMs: 0, toolVersions: {}, sources: [] as never[] }, files: new Map<string, string>() };
    const snap = (files: Record<string, string>) => {
      const sources = Object.keys(files).map((name) => ({ name, file: name, kind: 'file', status: 'collected' as const, durationMs: 0, required: false }));
      return buildSnapshot({ meta: { ...bundle.meta, sources }, files: new Map(Object.entries(files)) });
    };
    const plain = snap({ 'swanctl-conf': SWANCTL, 'ipsec-conf': IPSEC_CONF, 'docker-daemon': DAEMON_JSON });
    const redacted = snap({ 'swanctl-conf': redactSecrets(SWANCTL).text, 'ipsec-conf': redactSecrets(IPSEC_CONF).text, 'docker-daemon': redactSecrets(DAEMON_JSON).text });
    const selectors = (s: typeof plain) => (s.ipsecConnections ?? []).map((c) => [c.localTs, c.remoteTs]);
    expect(selectors(plain).length).toBeGreaterThan(0);
    expect(selectors(redacted)).toEqual(selectors(plain));
    expect(redacted.docker.daemon?.bip).toBe('10.250.0.1/24');
  });
});

describe('no secrets in what hostcheck keeps or sends', () => {
  const planted = join(tmp, 'etc');
  mkdirSync(planted, { recursive: true });
  writeFileSync(join(planted, 'swanctl.conf'), SWANCTL);
  writeFileSync(join(planted, 'ipsec.conf'), IPSEC_CONF);
  writeFileSync(join(planted, 'daemon.json'), DAEMON_JSON);
  const filePaths = { 'swanctl-conf': join(planted, 'swanctl.conf'), 'ipsec-conf': join(planted, 'ipsec.conf'), 'docker-daemon': join(planted, 'daemon.json') };

  it('capture: the bundle in memory and on disk, with the count of redacted lines in meta.json', async () => {
    const bundle = await collectBundle({ only: Object.keys(filePaths), filePaths, noCloud: true });
    expect(bundle.meta.sources.map((s) => [s.name, s.status, s.redacted])).toEqual([['docker-daemon', 'collected', 3], ['swanctl-conf', 'collected', 4], ['ipsec-conf', 'collected', 6]]);
    const out = join(tmp, 'captured');
    await writeBundle(out, bundle);
    for (const f of readdirSync(out)) expectNoSecret(`captured ${f}`, readFileSync(join(out, f), 'utf8'));
  });

  it('the agent\'s report of that host', async () => {
    const bundle = await collectBundle({ only: Object.keys(filePaths), filePaths, noCloud: true });
    const snapshot = buildSnapshot(bundle);
    const { findings } = analyzeSnapshot(snapshot, { peers: [], remotes: ['10.200.0.0/20'], ports: [], ignore: [] });
    const prepared = prepareSnapshot(snapshot, bundle);
    expectNoSecret('agent report', JSON.stringify(buildReportMessage(1, prepared, findings)));
    for (const s of prepared.sections) expectNoSecret(`agent report's ${s.kind} section`, s.content);
  });

  it('a bundle written before redaction, read again', async () => {
    const dir = join(tmp, 'old-bundle');
    mkdirSync(dir);
    const sources = [['docker-daemon', 'docker-daemon.json', DAEMON_JSON], ['swanctl-conf', 'swanctl.conf', SWANCTL], ['ipsec-conf', 'ipsec.conf', IPSEC_CONF]];
    for (const [, file, text] of sources) writeFileSync(join(dir, file), text);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ bundleFormat: 1, hostname: 'gw', sources: sources.map(([name, file]) => ({ name, file, kind: 'file', status: 'collected', required: false, durationMs: 0 })) }));
    const b = await readBundle(dir);
    for (const [name, text] of b.files) expectNoSecret(`read ${name}`, text);
    expectNoSecret('snapshot of an old bundle', JSON.stringify(buildSnapshot(b)));
  });

  it('a sosreport, directory and archive: ipsec.secrets never read, swanctl and daemon.json redacted', async () => {
    const top = join(tmp, 'sosreport-gw-2026-01-01-abcdefg');
    for (const d of ['etc/strongswan/swanctl', 'etc/docker', 'sos_commands/networking', 'sos_commands/docker', 'sos_logs']) mkdirSync(join(top, d), { recursive: true });
    writeFileSync(join(top, 'etc/strongswan/swanctl/swanctl.conf'), SWANCTL);
    writeFileSync(join(top, 'etc/ipsec.conf'), IPSEC_CONF);
    writeFileSync(join(top, 'etc/ipsec.secrets'), ': PSK "psk with spaces"\n');
    writeFileSync(join(top, 'etc/docker/daemon.json'), DAEMON_JSON);
    writeFileSync(join(top, 'sos_commands/networking/ip_route_show_table_all'), 'default via 10.100.1.1 dev eth0\n');
    const archive = join(tmp, 'sosreport-gw.tar.xz');
    execFileSync('tar', ['-cJf', archive, '-C', tmp, 'sosreport-gw-2026-01-01-abcdefg']);
    for (const path of [top, archive]) {
      const [b] = await openBundles(path);
      expect(b.meta.sources.filter((s) => s.redacted).map((s) => [s.name, s.file, s.redacted])).toEqual([
        ['docker-daemon', 'etc/docker/daemon.json', 3], ['swanctl-conf', 'etc/strongswan/swanctl/swanctl.conf', 4], ['ipsec-conf', 'etc/ipsec.conf', 6],
      ]);
      expectNoSecret(`${path} files`, JSON.stringify([...b.files.values()]));
      expectNoSecret(`${path} snapshot`, JSON.stringify(buildSnapshot(b)));
      expect(JSON.stringify(b.meta)).not.toContain('ipsec.secrets');
    }
  });

  it('the aggregator\'s store, when an agent sends configuration lines with secrets anyway', async () => {
    const store = new SqliteStore(join(tmp, 'agg.db'));
    const agg = new Aggregator({ store, credentials: emptyCredentials(), metrics: new AggregatorMetrics() });
    const snap = tinySnapshot('gw', '10.100.1.18');
    const line = (text: string, n: number) => ({ lineNumber: n, text, source: 'swanctl-conf' });
    snap.warnings.push({ source: 'swanctl-conf', lineNumber: 19, text: '    eap-x { secret bare-secret-no-equals }', reason: 'expected key = value' });
    snap.warnings.push({ source: 'ipsec-conf', lineNumber: 10, text: '10.100.1.18 198.51.100.2 : PSK "psk with spaces"', reason: 'setting outside a section' });
    snap.ipsecConnections = [{ format: 'swanctl-conf', connection: 'c', localAddrs: [], remoteAddrs: [], localTs: [], remoteTs: [], sidesByConvention: false, origin: line('secret = "0sFpZAZqEN6Ti9sqt4ZP5E"', 14) }];
    snap.docker.daemon = { defaultAddressPools: [], lines: { bip: line('{"proxies": {"http-proxy": "http://u:proxypass@p:3128"}, "bip": "10.250.0.1/24"}', 1) }, origin: line('"registry-password": "registry-pw-1"', 5) };
    const finding = {
      check: 'vpn-selector-gap', severity: 'error' as const, host: 'gw', subject: 's', key: 'vpn-selector-gap|gw|s', summary: 's', why: 'w', fix: [],
      evidence: [{ source: 'ipsec-conf', lineNumber: 11, text: ': RSA /etc/ipsec.d/private/gw.pem "rsa-key-passphrase"' }],
    };
    const hello = { type: 'hello' as const, protocol: 1, agentVersion: 'old', name: 'gw', identity: { hostname: 'gw' }, credential: { kind: 'token' as const, token: 'x'.repeat(16) }, lastSeq: 0 };
    await agg.report(hello, { type: 'report', seq: 1, sentAt: '', digest: 'a'.repeat(64), snapshot: JSON.parse(JSON.stringify(snap)), findings: [finding], complete: true }, 10);
    expectNoSecret('stored snapshot', JSON.stringify(await store.snapshot('gw')));
    expectNoSecret('stored findings', JSON.stringify(await store.findings()));
    expect(JSON.stringify(await store.snapshot('gw'))).toContain('<redacted>');
    await store.close();
  });
});
