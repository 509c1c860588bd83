// torchvision's ImageFolder over a folder tree on disk: root/<class>/**/<image>. Class indices are
// torchvision's (sorted folder names), so a model trained here and one trained with torchvision
// on the same folder agree on what output k means.

import { readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { compareCodePoints, DEFAULT_EXTENSIONS, LabelledImages, type Sample } from '../../data/dataset.js';
import { FileError } from './files.js';

export interface ImageFolderOptions {
  /** Accepted file endings, compared case-insensitively; default .jpg .jpeg .png .webp. */
  readonly extensions?: readonly string[];
}

/** A directory entry that is, or links to, a directory (Python's DirEntry.is_dir()). */
function isDir(dir: string, e: Dirent): boolean {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  try {
    return statSync(join(dir, e.name)).isDirectory();
  } catch {
    return false;
  }
}

function listDir(dir: string): Dirent[] {
  return readdirSync(dir, { withFileTypes: true });
}

/**
 * The images under a class folder in torchvision's order: `sorted(os.walk(dir, followlinks=True))`
 * (directories by full path, in string order), then the file names sorted within each directory.
 */
export function walkImages(classDir: string, accept: (name: string) => boolean): string[] {
  const dirs: string[] = [];
  const seen = new Set<string>();
  const visit = (d: string): void => {
    let real: string;
    try {
      real = realpathSync(d); // a link back up the tree is walked once, not forever
    } catch {
      return;
    }
    if (seen.has(real)) return;
    seen.add(real);
    dirs.push(d);
    let entries: Dirent[];
    try {
      entries = listDir(d);
    } catch {
      return; // os.walk ignores unreadable subdirectories
    }
    for (const e of entries) if (isDir(d, e)) visit(join(d, e.name));
  };
  visit(classDir);
  dirs.sort(compareCodePoints);
  const files: string[] = [];
  for (const d of dirs) {
    let entries: Dirent[];
    try {
      entries = listDir(d);
    } catch {
      continue;
    }
    const names = entries.filter((e) => !isDir(d, e) && accept(e.name)).map((e) => e.name);
    names.sort(compareCodePoints);
    for (const n of names) files.push(join(d, n));
  }
  return files;
}

export function normalizeExtensions(exts: readonly string[]): string[] {
  if (!Array.isArray(exts) || exts.length === 0) throw new RangeError(`extensions must be a non-empty array, got ${JSON.stringify(exts)}`);
  return exts.map((e) => {
    if (typeof e !== 'string' || e.length === 0) throw new RangeError(`extensions must be non-empty strings, got ${JSON.stringify(e)}`);
    return (e.startsWith('.') ? e : `.${e}`).toLowerCase();
  });
}

/**
 * torchvision's `datasets.ImageFolder(root)`: every subfolder of root is a class (sorted by
 * name, index = position), every image below it (recursively) a sample of that class.
 */
export class ImageFolder extends LabelledImages {
  readonly root: string;
  readonly extensions: readonly string[];

  constructor(root: string, opts: ImageFolderOptions = {}) {
    if (typeof root !== 'string' || root.length === 0) throw new TypeError(`root must be a directory path, got ${JSON.stringify(root)}`);
    const extensions = normalizeExtensions(opts.extensions ?? DEFAULT_EXTENSIONS);
    const { classes, samples } = scan(root, extensions);
    super(classes, samples);
    this.root = root;
    this.extensions = extensions;
  }
}

/** The class folders of root (sorted) and their images, in torchvision's order. */
function scan(root: string, exts: readonly string[]): { classes: string[]; samples: Sample[] } {
  let entries: Dirent[];
  try {
    if (!statSync(root).isDirectory()) throw new FileError(`${root}: not a directory`);
    entries = listDir(root);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FileError(`${root}: no such directory`);
    if (code === 'EACCES') throw new FileError(`${root}: permission denied`);
    throw e instanceof FileError ? e : new FileError(`${root}: cannot read directory (${(e as Error).message})`);
  }
  const classes = entries.filter((e) => isDir(root, e)).map((e) => e.name);
  classes.sort(compareCodePoints);
  if (classes.length === 0) throw new FileError(`${root}: no class folders (expected ${root}/<class>/<image>)`);
  const accept = (name: string): boolean => {
    const lower = name.toLowerCase();
    return exts.some((x) => lower.endsWith(x));
  };
  const samples: Sample[] = [];
  classes.forEach((c, label) => {
    const dir = join(root, c);
    const files = walkImages(dir, accept);
    if (files.length === 0) throw new FileError(`${dir}: class folder "${c}" holds no images (${exts.join(', ')})`);
    for (const path of files) samples.push({ path, label });
  });
  return { classes, samples };
}

/** What predict / embed read in a folder: every file sharp (or our BMP reader) can decode. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp'] as const;

/** The images below `dir` (recursive, links followed once), in torchvision's walk order. */
export function imagesUnder(dir: string, extensions: readonly string[] = IMAGE_EXTENSIONS): string[] {
  const exts = normalizeExtensions(extensions);
  return walkImages(dir, (name) => {
    const lower = name.toLowerCase();
    return exts.some((x) => lower.endsWith(x));
  });
}
