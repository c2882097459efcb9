/** `hostcheck install` / `hostcheck uninstall`: the agent as a systemd service (docs/install.md). */
import { Command } from 'commander';
import { UsageError } from '../collect/errors.js';

interface InstallFlags {
  server?: string;
  tokenFile?: string;
  enrolTokenFile?: string;
  ca?: string;
  root?: string;
  dryRun?: boolean;
  docker?: boolean;
  exec?: string;
}

interface UninstallFlags {
  root?: string;
  dryRun?: boolean;
  purge?: boolean;
}

/** Paths the agent's sandbox hides (ProtectHome=, PrivateTmp=): a unit running from there cannot start. */
const HIDDEN = /^\/(home|root|run\/user|tmp|var\/tmp)(\/|$)/;

/** The command the unit runs: this single executable, or this node and this script. */
async function currentExec(): Promise<string[]> {
  const { realpathSync } = await import('node:fs');
  try {
    const sea = (await import('node:sea')) as { isSea?: () => boolean };
    if (sea.isSea?.()) return [process.execPath];
  } catch {
    // node:sea is Node ≥ 20.12; an older node is never a single executable
  }
  return [process.execPath, realpathSync(process.argv[1])];
}

function checkRoot(flags: { root?: string; dryRun?: boolean }): string | undefined {
  if (flags.root !== undefined && !flags.root.startsWith('/')) throw new UsageError(`--root ${flags.root}: give an absolute directory`);
  if (!flags.root && !flags.dryRun && process.getuid?.() !== 0) throw new UsageError('run as root (or use --dry-run to see what would happen, or --root DIR for an image)');
  return flags.root;
}

async function runInstall(flags: InstallFlags): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const plan = await import('../install/plan.js');
  const { executeSteps, targetProbe, writePartialManifest } = await import('../install/execute.js');
  const { renderPlan } = await import('../install/render.js');
  const root = checkRoot(flags);
  const source = async (flag: string, path: string | undefined) => {
    if (path === undefined) return undefined;
    try {
      return { source: path, content: await readFile(path, 'utf8') };
    } catch (err) {
      throw new UsageError(`${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  };
  const exec = flags.exec ? flags.exec.split(/\s+/).filter(Boolean) : await currentExec();
  const hidden = exec.filter((p) => HIDDEN.test(p));
  if (hidden.length > 0) process.stderr.write(`hostcheck install: warning: ${hidden.join(', ')} is hidden from the service (ProtectHome=, PrivateTmp=); put hostcheck under /usr/local or /opt (docs/install.md)\n`);
  const probe = targetProbe(root);
  let steps;
  try {
    steps = plan.installPlan({
      root, server: flags.server, exec, docker: flags.docker,
      ca: await source('--ca', flags.ca), tokenFile: await source('--token-file', flags.tokenFile), enrolTokenFile: await source('--enrol-token-file', flags.enrolTokenFile),
    }, probe);
  } catch (err) {
    if (err instanceof plan.InstallError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
  if (flags.dryRun) {
    process.stdout.write(renderPlan('hostcheck install', steps, root));
    return 0;
  }
  const manifestText = probe.read(plan.MANIFEST_FILE);
  const earlier = manifestText ? plan.parseManifest(manifestText) : undefined;
  try {
    executeSteps(steps, root, earlier);
  } catch (err) {
    const done = (err as { done?: typeof steps }).done ?? [];
    writePartialManifest(done, root, plan.MANIFEST_FILE, earlier);
    process.stderr.write(`hostcheck install: ${(err as Error).message}\nhostcheck install: ${done.length} of ${steps.length} steps ran; "hostcheck uninstall${root ? ` --root ${root}` : ''}" undoes them\n`);
    return 1;
  }
  process.stderr.write(root
    ? `hostcheck install: installed into ${root} and enabled ${'hostcheck-agent.service'}; it starts at the image's next boot\n`
    : 'hostcheck install: hostcheck-agent.service is enabled and started; "journalctl -u hostcheck-agent" shows its log\n');
  return 0;
}

async function runUninstall(flags: UninstallFlags): Promise<number> {
  const plan = await import('../install/plan.js');
  const { executeSteps, targetProbe } = await import('../install/execute.js');
  const { renderPlan } = await import('../install/render.js');
  const root = checkRoot(flags);
  const text = targetProbe(root).read(plan.MANIFEST_FILE);
  if (text === undefined) throw new UsageError(`no ${plan.MANIFEST_FILE}${root ? ` under ${root}` : ''}: nothing was installed by "hostcheck install" here`);
  const steps = plan.uninstallPlan(plan.parseManifest(text), root, flags.purge);
  if (flags.dryRun) {
    process.stdout.write(renderPlan('hostcheck uninstall', steps, root));
    return 0;
  }
  const { notes } = executeSteps(steps, root);
  for (const n of notes) process.stderr.write(`hostcheck uninstall: ${n}\n`);
  if (!flags.purge) process.stderr.write('hostcheck uninstall: the agent\'s state (/var/lib/hostcheck: token, sequence numbers) stays; --purge removes it\n');
  return 0;
}

export function installCommand(): Command {
  return new Command('install')
    .description('install the agent as a systemd service: /etc/hostcheck/config.json, hostcheck-agent.service, a "hostcheck" system user; enable and start it')
    .option('--server <url>', 'the aggregator: ws://, wss:// or ws+unix:/// URL (config "server")')
    .option('--token-file <file>', 'a per-host token: copied to /var/lib/hostcheck/token (0600, the agent\'s user)')
    .option('--enrol-token-file <file>', 'an enrolment token: copied to /etc/hostcheck/enrol-token (0640, group hostcheck)')
    .option('--ca <file>', 'CA certificate (PEM) for wss://: copied to /etc/hostcheck/ca.pem')
    .option('--docker', 'let the agent read Docker\'s networks: joins the docker group, which is root-equivalent (docs/install.md)')
    .option('--exec <command>', 'the hostcheck command the unit runs (default: this one, e.g. "/usr/bin/node /opt/hostcheck/hostcheck.cjs")')
    .option('--root <dir>', 'install into an image\'s root: systemctl --root=DIR enable, nothing started')
    .option('--dry-run', 'print every file and command; change nothing')
    .addHelpText('after', '\nExamples:\n  sudo hostcheck install --server wss://hostcheck.internal:8443 --ca ca.pem --enrol-token-file /run/enrol\n  hostcheck install --server ws://10.0.0.5:7480 --token-file token --dry-run\n  sudo hostcheck install --root /mnt/image --server wss://hostcheck.internal:8443 --enrol-token-file enrol')
    .action(async (flags: InstallFlags) => {
      process.exitCode = await runInstall(flags);
    });
}

export function uninstallCommand(): Command {
  return new Command('uninstall')
    .description('undo "hostcheck install": stop and disable the agent, remove (or restore) exactly the files it wrote, and the user it made')
    .option('--root <dir>', 'the image root given to install --root')
    .option('--purge', 'also remove /var/lib/hostcheck (the agent\'s token and sequence numbers)')
    .option('--dry-run', 'print every file and command; change nothing')
    .addHelpText('after', '\nExamples:\n  sudo hostcheck uninstall --dry-run\n  sudo hostcheck uninstall --purge\n  sudo hostcheck uninstall --root /mnt/image')
    .action(async (flags: UninstallFlags) => {
      process.exitCode = await runUninstall(flags);
    });
}
