/** `hostcheck drops`: what the kernel dropped during a window, by reason, location and counter, each tied to the finding that explains it. */
import { Command } from 'commander';
import { hostcheckVersion, loadBundle } from '../collect/collect.js';
import { UsageError } from '../collect/errors.js';
import { CounterWindow } from '../collect/kernel-window.js';
import { buildSnapshot } from '../collect/snapshot.js';
import { analyzeSnapshot } from '../checks/analyze.js';
import { explainDrops } from '../checks/kernel-join.js';
import { buildDropsReport, renderDrops } from '../report/drops.js';
import { printJson, repeatable } from './io.js';
import { mergedAnalysisOptions, runConfig, type RunFlags } from './commands-run.js';

interface DropsFlags extends Pick<RunFlags, 'peer' | 'remote' | 'port' | 'ignore' | 'config' | 'name' | 'json'> {
  for: string;
  dropReasons: boolean;
}

export async function runDrops(flags: DropsFlags): Promise<number> {
  const seconds = Number(flags.for);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) throw new UsageError(`--for ${flags.for}: expected seconds, more than 0 and at most 3600`);
  const { config, flagConfig } = await runConfig({ ...flags, routeFor: [], bundle: undefined });
  const window = new CounterWindow({ seconds, dropReasons: flags.dropReasons });
  try {
    const snapshot = buildSnapshot(await loadBundle({ name: flags.name, purpose: 'analyze' }));
    window.open(snapshot);
    process.stderr.write(`hostcheck: watching what the kernel drops for ${seconds} s\n`);
    const { findings } = analyzeSnapshot(snapshot, mergedAnalysisOptions(config, flagConfig));
    const w = await window.finish(snapshot);
    const report = buildDropsReport(snapshot.identity.name, w, explainDrops(w, findings), findings);
    if (flags.json) printJson({ hostcheckVersion: hostcheckVersion(), ...report });
    else process.stdout.write(renderDrops(report));
    return 0;
  } finally {
    window.abandon();
  }
}

export function dropsCommand(): Command {
  return new Command('drops')
    .description('List what the kernel dropped during a window (drop reasons by location, drop counters, netfilter rule counters), each tied to the finding that explains it or marked unexplained')
    .option('--for <seconds>', 'how long to watch', '10')
    .option('--no-drop-reasons', 'counters only: do not trace skb:kfree_skb')
    .option('--peer <ip[=name]>', 'a host this one must reach (repeatable; as for the one-shot)', repeatable, [])
    .option('--remote <cidr>', 'a remote network (repeatable)', repeatable, [])
    .option('--port <proto/n>', 'a port peers use: tcp/N or udp/N (repeatable)', repeatable, [])
    .option('--ignore <check[:subject]>', 'drop findings of a check, or of one subject (repeatable)', repeatable, [])
    .option('--config <file>', 'config file (default /etc/hostcheck/config.json when it exists)')
    .option('--name <name>', 'the name this host goes by (default: its hostname)')
    .option('--json', 'print JSON (docs/kernel.md)')
    .addHelpText('after', '\nDrop reasons come from tracefs (/sys/kernel/tracing), which is system-wide: drops in every network\nnamespace on the machine count. Counters are this network namespace\'s.\n\nExamples:\n  sudo hostcheck drops --for 30 --peer 10.9.0.5\n  sudo hostcheck drops --json')
    .action(async (flags: DropsFlags) => {
      process.exitCode = await runDrops(flags);
    });
}
