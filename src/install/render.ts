/**
 * --dry-run: the planned steps as the shell commands they amount to, every file in full
 * (secrets by where they come from, never their text).
 */
import { useraddArgv, hostPath } from './execute.js';
import type { Step } from './plan.js';

const octal = (mode: number): string => mode.toString(8).padStart(4, '0');
const q = (s: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
const sh = (argv: string[]): string => argv.map(q).join(' ');

function heredoc(path: string, content: string): string[] {
  const body = content.endsWith('\n') ? content.slice(0, -1) : content;
  return [`cat > ${q(path)} <<'HOSTCHECK_EOF'`, ...body.split('\n'), 'HOSTCHECK_EOF'];
}

function renderStep(step: Step, root: string | undefined): string[] {
  const at = (p: string) => hostPath(root, p);
  switch (step.kind) {
    case 'user':
      return [sh(useraddArgv(root, step.name, step.home))];
    case 'mkdir':
      return [`install -d -m ${octal(step.mode)} -o ${step.owner.split(':')[0]} -g ${step.owner.split(':')[1] ?? step.owner} ${q(at(step.path))}`];
    case 'write': {
      const [user, group = user] = step.owner.split(':');
      if (step.secretFrom !== undefined) {
        return [`install -m ${octal(step.mode)} -o ${user} -g ${group} ${q(step.secretFrom)} ${q(at(step.path))}   # ${step.content.length} bytes, not shown`];
      }
      return [...heredoc(at(step.path), step.content), `chmod ${octal(step.mode)} ${q(at(step.path))} && chown ${user}:${group} ${q(at(step.path))}`];
    }
    case 'manifest':
      return [`# write ${at(step.path)}: the list of files and directories above (and what each file held before), for "hostcheck uninstall"`];
    case 'command':
      return [sh(step.argv)];
    case 'restore':
      return [`# restore ${at(step.path)} to what it held before install (${step.content.length} bytes)`];
    case 'remove':
      return [`rm -f ${q(at(step.path))}`];
    case 'purge':
      return [`rm -rf ${q(at(step.path))}   # --purge: the agent's token and sequence numbers`];
    case 'rmdir':
      return [`rmdir ${q(at(step.path))}   # if empty`];
    case 'userdel':
      return [sh(['userdel', ...(root ? ['--prefix', root] : []), step.name]), `# and groupdel ${step.name} if userdel left the group`];
  }
}

/** The whole plan as a commented shell transcript. */
export function renderPlan(title: string, steps: Step[], root: string | undefined): string {
  return [`# ${title} --dry-run: nothing was changed. These are the files and commands it would write and run.`, ...steps.flatMap((s) => renderStep(s, root))].join('\n') + '\n';
}
