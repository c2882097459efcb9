/**
 * iptables-parse: parse time of a kube-proxy-shaped ruleset of N rules as `iptables-save` prints
 * it, against `iptables-save` dumping the same ruleset from a lab namespace (best of 3 each).
 * Target: parsing takes at most a quarter of iptables-save's time. The ruleset is loaded with
 * `iptables-restore` (nft backend here); its load time is printed too.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Topology } from '../test/lab/lab.js';
import { kubeProxyDump } from '../test/helpers/kube-proxy-dump.js';
import { benchTempDir, bestOf, measureParseMemory, MiB, removeTempDir, secondsSince, shIn, withLab, type BenchRow, type SectionOptions } from './netns.js';

const FULL_RULES = 240_000;
const QUICK_RULES = 24_000;
const PARSE_TARGET_RATIO = 0.25;

const HOST = 'ipt';
const topology: Topology = { hosts: { [HOST]: {} } };

interface ParsedTables {
  records: Array<{ name: string; rules: unknown[]; chains: unknown[] }>;
  warnings: Array<{ lineNumber: number; reason: string }>;
}

export async function benchIptablesParse(options: SectionOptions): Promise<BenchRow[]> {
  const wanted = options.quick ? QUICK_RULES : FULL_RULES;
  const { parse } = (await import('../parsers/iptables-save.js')) as { parse: (text: string) => ParsedTables };
  const dump = kubeProxyDump(wanted);
  const dir = benchTempDir('iptables');
  const saveFile = join(dir, 'iptables-save.txt');
  try {
    return await withLab(topology, async (lab) => {
      const rows: BenchRow[] = [];
      options.log(`iptables-parse: iptables-restore of ${dump.rules.toLocaleString('en')} rules (${dump.services.toLocaleString('en')} services) ...`);
      const restoreStart = process.hrtime.bigint();
      await shIn(lab, HOST, 'iptables-restore', dump.text);
      const restoreSeconds = secondsSince(restoreStart);
      const version = (await shIn(lab, HOST, 'iptables --version')).trim();
      rows.push({
        name: `load ${dump.rules.toLocaleString('en')} rules (iptables-restore)`, value: round(restoreSeconds), unit: 's',
        note: `${version}; ${dump.services.toLocaleString('en')} services, ${(dump.services * 4).toLocaleString('en')} KUBE-SVC/KUBE-SEP chains`,
      });

      options.log('iptables-parse: timing iptables-save > file (best of 3) ...');
      const save = await bestOf(3, () => shIn(lab, HOST, `iptables-save > ${saveFile}`));
      rows.push({
        name: 'iptables-save > file', value: round(save.best), unit: 's',
        note: `best of 3 (${save.all.map(round).join(', ')}), via ip netns exec; ${(statSync(saveFile).size / MiB).toFixed(1)} MiB`,
      });

      options.log('iptables-parse: timing parse() of the dump (warm-up + best of 3) ...');
      const text = readFileSync(saveFile, 'utf8');
      const ruleLines = countRuleLines(text);
      // Warm-up; only counts are kept, so the rules are not alive during the timed runs.
      const { parsedRules, warningCount, warnings } = counts(parse(text));
      // Each timed run drops its result, so no run pays for collecting the previous one's rules.
      const timed = await bestOf(3, () => parse(text).records.length);
      const ratio = timed.best / save.best;
      rows.push({
        name: 'parse iptables-save dump', value: round(timed.best), unit: 's',
        reference: { name: 'iptables-save > file', value: round(save.best), unit: 's' },
        ratio: round(ratio), target: `ratio <= ${PARSE_TARGET_RATIO}`, pass: ratio <= PARSE_TARGET_RATIO,
        note: `best of 3 (${timed.all.map(round).join(', ')}); ${parsedRules.toLocaleString('en')} rules parsed `
          + `of ${ruleLines.toLocaleString('en')} -A lines, ${warningCount} warnings`
          + (warningCount > 0 ? ` (first: line ${warnings[0].lineNumber}: ${warnings[0].reason})` : ''),
      });

      options.log('iptables-parse: peak memory of parsing the dump in a fresh process ...');
      const mem = await measureParseMemory('parsers/iptables-save.ts', 'parse', saveFile);
      rows.push({
        name: 'parse iptables-save dump: peak RSS', value: Math.round(mem.peakBytes / 1e6), unit: 'MB',
        note: `fresh node (${mem.loadedFrom}), MB = 10^6 bytes: ${Math.round(mem.baselineBytes / 1e6)} MB before reading, `
          + `+${Math.round((mem.peakBytes - mem.baselineBytes) / 1e6)} MB for reading and parsing, `
          + `${Math.round(mem.retainedHeapBytes / 1e6)} MB heap kept with the result alive; cold parse ${round(mem.parseSeconds)} s`,
      });
      return rows;
    });
  } finally {
    removeTempDir(dir);
  }
}

/** Rules, warnings, and the first warning of a result (which is then garbage). */
function counts(result: ParsedTables): { parsedRules: number; warningCount: number; warnings: ParsedTables['warnings'] } {
  return {
    parsedRules: result.records.reduce((n, t) => n + t.rules.length, 0),
    warningCount: result.warnings.length,
    warnings: result.warnings.slice(0, 1),
  };
}

/** `-A` lines of a save dump. */
function countRuleLines(text: string): number {
  let n = 0;
  let from = 0;
  for (;;) {
    const i = text.indexOf('\n-A ', from);
    if (i < 0) break;
    n++;
    from = i + 1;
  }
  return text.startsWith('-A ') ? n + 1 : n;
}

function round(x: number): number {
  return Number(x.toPrecision(3));
}
