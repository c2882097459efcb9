/**
 * A bundle's files as one tree, whether they lie in a directory or in an archive read into
 * memory: relative paths, links followed only while they stay inside the tree, only regular
 * files read, each up to a size limit. Every layout reader (hostcheck, sosreport, calicoctl)
 * reads through this, so none of them can be led outside the bundle.
 */
import { readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { DEFAULT_ARCHIVE_LIMITS, type TarContents } from './archive-tar.js';
import { UnsafeBundleError } from './errors.js';

export interface BundleTree {
  /** The directory or archive the user named. */
  readonly origin: string;
  /** The text of a regular file ("a/b/c", relative to the root); undefined when there is none. */
  text(path: string): string | undefined;
  /** Names in a directory ('' for the root), sorted; empty when it is absent. */
  list(dir: string): string[];
  isDir(path: string): boolean;
  /** The same tree seen from one of its directories. */
  sub(dir: string): BundleTree;
}

const join2 = (a: string, b: string) => (a === '' ? b : b === '' ? a : `${a}/${b}`);

/** A directory on disk: a path whose real location leaves the directory is refused. */
export class DirectoryTree implements BundleTree {
  /** The bundle's real top directory: nothing outside it is read, from any sub-tree. */
  private readonly realRoot: string;

  constructor(readonly origin: string, private readonly base = '', realRoot?: string, private readonly maxFileBytes = DEFAULT_ARCHIVE_LIMITS.maxFileBytes) {
    this.realRoot = realRoot ?? realpathSync(origin);
  }

  /** The real path of `path`, undefined when it does not exist; refuses one outside the bundle. */
  private real(path: string): string | undefined {
    let real: string;
    try {
      real = realpathSync(join(this.realRoot, this.base, path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw err;
    }
    if (real !== this.realRoot && !real.startsWith(this.realRoot + sep)) {
      throw new UnsafeBundleError(`${this.shown(path)} leads outside the bundle (a link to ${real})`);
    }
    return real;
  }

  private shown(path: string): string {
    return join(this.origin, path);
  }

  text(path: string): string | undefined {
    const real = this.real(path);
    if (real === undefined) return undefined;
    const st = statSync(real);
    if (st.isDirectory()) return undefined;
    if (!st.isFile()) throw new UnsafeBundleError(`${this.shown(path)} is not a regular file (a device, FIFO or socket)`);
    if (st.size > this.maxFileBytes) throw new UnsafeBundleError(`${this.shown(path)} is ${st.size} bytes, over the limit of ${this.maxFileBytes} for one file`);
    return readFileSync(real, 'utf8');
  }

  list(dir: string): string[] {
    const real = this.real(dir);
    if (real === undefined || !statSync(real).isDirectory()) return [];
    const names = readdirSync(real);
    if (names.length > DEFAULT_ARCHIVE_LIMITS.maxEntries) throw new UnsafeBundleError(`${this.shown(dir)} holds ${names.length} entries, over the limit of ${DEFAULT_ARCHIVE_LIMITS.maxEntries}`);
    return names.sort();
  }

  isDir(path: string): boolean {
    const real = this.real(path);
    return real !== undefined && statSync(real).isDirectory();
  }

  sub(dir: string): BundleTree {
    return new DirectoryTree(join(this.origin, dir), join(this.base, dir), this.realRoot, this.maxFileBytes);
  }
}

/** An archive read into memory (archive-tar.ts checked every path and link already). */
export class ArchiveTree implements BundleTree {
  private readonly dirs = new Map<string, Set<string>>();

  constructor(readonly origin: string, private readonly contents: TarContents, private readonly root = '') {
    const add = (path: string) => {
      const slash = path.lastIndexOf('/');
      const parent = slash < 0 ? '' : path.slice(0, slash);
      let names = this.dirs.get(parent);
      if (!names) {
        this.dirs.set(parent, (names = new Set()));
        if (parent !== '') add(parent);
      }
      names.add(path.slice(slash + 1));
    };
    for (const p of contents.paths) add(p);
    for (const d of contents.directories) if (!this.dirs.has(d)) this.dirs.set(d, new Set());
  }

  /** The archive path a tree path names, links followed (a loop or more than 40 links is absent). */
  private resolve(path: string): string | undefined {
    let current = '';
    const queue = join2(this.root, path).split('/').filter((p) => p !== '');
    for (let hops = 0; queue.length > 0; ) {
      const next = join2(current, queue.shift()!);
      const target = this.contents.symlinks.get(next);
      if (target === undefined) {
        current = next;
        continue;
      }
      if (++hops > 40) return undefined;
      queue.unshift(...target.split('/').filter((p) => p !== ''));
      current = '';
    }
    return current;
  }

  text(path: string): string | undefined {
    const at = this.resolve(path);
    const data = at === undefined ? undefined : this.contents.files.get(at);
    return data?.toString('utf8');
  }

  list(dir: string): string[] {
    const at = this.resolve(dir);
    return at === undefined ? [] : [...(this.dirs.get(at) ?? [])].sort();
  }

  isDir(path: string): boolean {
    const at = this.resolve(path);
    return at !== undefined && this.dirs.has(at);
  }

  sub(dir: string): BundleTree {
    return new ArchiveTree(`${this.origin}:${dir}`, this.contents, join2(this.root, dir));
  }
}

/** When a tree holds one directory and nothing else (`tar czf x.tgz bundle/`), that directory. */
export function singleTopDirectory(tree: BundleTree): BundleTree {
  const names = tree.list('');
  return names.length === 1 && tree.isDir(names[0]) ? tree.sub(names[0]) : tree;
}
