/**
 * A command's output file as text without a buffer of its size. readFileSync holds a big output
 * (a million routes: 47 MB) in a malloc'd buffer as big as the file; glibc raises its mmap
 * threshold when such a buffer is freed, so the next big one is carved from the heap, whose pages
 * stay with the process: after two big outputs the agent kept ~30 MB more than its live set for
 * good (docs/agent.md, "Memory"). Read through one reused 256 KiB buffer and decoded piece by
 * piece, the text is the same (a UTF-8 sequence cut between two reads is decoded whole). A piece
 * that big is a large object of V8's (a page of its own, unmapped when collected), where 64 KiB
 * pieces filled the old generation's pages, which V8 kept after they were collected.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

const READ_STEP = 256 * 1024;
let scratch: Buffer | undefined;

/** The text of the file open as `fd`, from byte 0 (whatever its offset), decoded as UTF-8. */
export function readTextFd(fd: number): string {
  const buffer = (scratch ??= Buffer.allocUnsafeSlow(READ_STEP));
  const decoder = new StringDecoder('utf8');
  const pieces: string[] = [];
  let position = 0;
  for (;;) {
    const n = readSync(fd, buffer, 0, READ_STEP, position);
    if (n === 0) break;
    position += n;
    pieces.push(decoder.write(n === READ_STEP ? buffer : buffer.subarray(0, n)));
  }
  pieces.push(decoder.end());
  return pieces.length === 1 ? pieces[0] : pieces.join('');
}

/** readFileSync(path, 'utf8'), read as readTextFd reads. Throws as readFileSync does (ENOENT ...). */
export function readTextFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    return readTextFd(fd);
  } finally {
    closeSync(fd);
  }
}
