/**
 * Secrets never travel: configuration files hostcheck copies (swanctl.conf, ipsec.conf,
 * daemon.json) are redacted where they stand, line by line, before anything reads, stores or
 * sends them. Each secret value becomes `<redacted>`; the line stays, so line numbers quoted as
 * evidence keep pointing at the same lines. hostcheck-capture.sh applies the same rules in awk
 * (`sh hostcheck-capture.sh --redact < FILE`; a test compares both on planted secrets).
 *
 * Rules, each on one line (spaces and tabs only; `\r` is part of a value):
 * - a PEM private key block (`-----BEGIN ... PRIVATE KEY-----` to `-----END`): its body lines;
 * - swanctl `secret = ...` and `pin = ...` (the `secrets` section's values; a closing ` }` stays);
 * - ipsec.secrets entries `IDS : PSK|RSA|ECDSA|EAP|XAUTH|NTLM|P12|PKCS8|PIN|PPK|BLISS ...`;
 * - libreswan raw RSA private parts (`PrivateExponent:`, `Prime1:` ... `Coefficient:`);
 * - credentials in URLs (`scheme://user:password@host`): the user information;
 * - JSON string values whose key names a password, secret, token, credential or auth.
 */
import type { HostSnapshot } from '../model/snapshot.js';

export const REDACTED = '<redacted>';

const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
const PEM_END = /-----END [A-Z0-9 ]*PRIVATE KEY-----/;
/**
 * A swanctl `secret`/`pin` setting, also after `{` on a section's line and without its `=` (a line
 * the parser would quote in a warning); matched through the value's first character.
 */
const SWANCTL_SECRET = /(?:^|[ \t{])(?:secret|pin)(?:[ \t]*=[ \t]*|[ \t]+)[^ \t]/;
const CLOSING_BRACE = /[ \t]\}[ \t]*$/;
const IPSEC_SECRET = /^((?:.*[ \t])?:[ \t]*(?:PSK|RSA|ECDSA|EAP|XAUTH|NTLM|P12|PKCS8|PIN|PPK|BLISS))[ \t].*$/is;
const RAW_RSA_PART = /^([ \t]*(?:PrivateExponent|Prime1|Prime2|Exponent1|Exponent2|Coefficient)[ \t]*:[ \t]*)[^ \t].*$/s;
const URL_USERINFO = /([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@"' \t]+@/g;
const JSON_SECRET = /("[^"]*(?:pass|secret|token|credential|auth)[^"]*"[ \t]*:[ \t]*)"[^"]*"/gi;

export interface Redacted {
  text: string;
  /** How many lines were changed. */
  count: number;
}

/** `secret = VALUE` → `secret = <redacted>`, keeping a section's closing ` }` on the same line. */
function redactSetting(line: string): string {
  const m = SWANCTL_SECRET.exec(line);
  if (!m) return line;
  const value = m.index + m[0].length - 1;
  const brace = CLOSING_BRACE.exec(line.slice(value));
  return line.slice(0, value) + REDACTED + (brace ? brace[0] : '');
}

/** One line outside a PEM block. */
export function redactLine(line: string): string {
  let out = redactSetting(line);
  if (out === line) out = line.replace(IPSEC_SECRET, `$1 ${REDACTED}`);
  if (out === line) out = line.replace(RAW_RSA_PART, `$1${REDACTED}`);
  return out.replace(URL_USERINFO, `$1${REDACTED}@`).replace(JSON_SECRET, `$1"${REDACTED}"`);
}

/** A whole file: every line redacted, PEM private key bodies included; line count unchanged. */
export function redactSecrets(text: string): Redacted {
  const lines = text.split('\n');
  let inPem = false;
  let count = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let out: string;
    if (inPem) {
      if (PEM_END.test(line)) {
        inPem = false;
        out = line;
      } else out = REDACTED;
    } else {
      if (PEM_BEGIN.test(line)) inPem = true;
      out = redactLine(line);
    }
    if (out !== line) {
      lines[i] = out;
      count++;
    }
  }
  return { text: count ? lines.join('\n') : text, count };
}

/** Bundle sources that are copied configuration files, and so may hold secrets. */
export const REDACTED_SOURCES = new Set(['docker-daemon', 'swanctl-conf', 'ipsec-conf']);

/**
 * The parts of a snapshot that quote configuration text (parser warnings, IPsec and Docker
 * origins), redacted in place: what an agent older than redaction sends is redacted on arrival.
 */
export function redactSnapshotTexts(s: HostSnapshot): void {
  const origin = (o: { text: string } | undefined) => {
    if (o) o.text = redactLine(o.text);
  };
  for (const w of s.warnings ?? []) w.text = redactLine(w.text);
  for (const c of s.ipsecConnections ?? []) {
    origin(c.origin);
    origin(c.localTsOrigin);
    origin(c.remoteTsOrigin);
  }
  const daemon = s.docker?.daemon;
  if (daemon) {
    origin(daemon.origin);
    for (const o of Object.values(daemon.lines ?? {})) origin(o);
  }
}
