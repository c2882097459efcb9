/**
 * A command's output file as text without a buffer of its size. readFileSync holds a big output
 * (a million routes: 47 MB) in a malloc'd buffer as big as the file; glibc raises its mmap
 * threshold when such a buffer is freed, so the next big one is carved from the heap, whose pages
 * stay with the process: after two big outputs the agent kept ~30 MB more than its live set for
 * good (docs/agent.md, "Memory"). Read through a buffer of at most 256 KiB and decoded piece by
 * piece, the text is the same (a UTF-8 sequence cut between two reads is decoded whole). A piece
 * that big is a large object of V8's (a page of its own, unmapped when collected), where 64 KiB
 * pieces filled the old generation's pages, which V8 kept after they were collected.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

const READ_STEP = 256 * 1024;

/** The text of the file open as `fd`, from byte 0 (whatever its offset), decoded as UTF-8. */
export function readTextFd(fd: number): string {
  // One buffer per read, no bigger than the file (a size of 0, as /proc gives, reads in whole steps):
  // none is kept between reads, so an idle agent holds no 256 KiB it last used for a big output.
  const size = fstatSync(fd).size;
  const step = size > 0 && size < READ_STEP ? size + 1 : READ_STEP;
  const buffer = Buffer.allocUnsafeSlow(step);
  const decoder = new StringDecoder('utf8');
  const pieces: string[] = [];
  let position = 0;
  for (;;) {
    const n = readSync(fd, buffer, 0, step, position);
    if (n === 0) break;
    position += n;
    pieces.push(decoder.write(n === step ? buffer : buffer.subarray(0, n)));
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
