/**
 * The smallest BPF object iproute2's loader (libbpf) accepts: an ELF file with one program of
 * two instructions (`r0 = RET; exit`) in section `section`, a GPL license section and a symbol
 * for the program. No compiler needed: the lab attaches XDP and tc programs that pass or drop
 * everything to show what hostcheck cannot evaluate.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** XDP_DROP 1, XDP_PASS 2; TC_ACT_OK 0, TC_ACT_SHOT 2. */
export function minimalBpfObject(section: string, ret: number): Buffer {
  const insns = Buffer.alloc(16);
  insns.writeUInt8(0xb7, 0); // BPF_ALU64 | BPF_MOV | BPF_K, dst r0
  insns.writeInt32LE(ret, 4);
  insns.writeUInt8(0x95, 8); // BPF_JMP | BPF_EXIT
  const license = Buffer.from('GPL\0');
  const names = ['', '.strtab', section, 'license', '.symtab', 'prog'];
  const nameAt: number[] = [];
  let strtab = Buffer.alloc(0);
  for (const n of names) {
    nameAt.push(strtab.length);
    strtab = Buffer.concat([strtab, Buffer.from(`${n}\0`)]);
  }
  // Symbol 1: a global function `prog` in section 2, 16 bytes long.
  const symtab = Buffer.alloc(48);
  symtab.writeUInt32LE(nameAt[5], 24);
  symtab.writeUInt8(0x12, 28);
  symtab.writeUInt16LE(2, 30);
  symtab.writeBigUInt64LE(16n, 40);
  const pad8 = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((8 - (b.length % 8)) % 8)]);
  const parts = [pad8(strtab), pad8(insns), pad8(license), symtab];
  const offsets: number[] = [];
  let offset = 64;
  for (const p of parts) {
    offsets.push(offset);
    offset += p.length;
  }
  const section_ = (name: number, type: number, flags: number, at: number, size: number, link = 0, info = 0, align = 1, entsize = 0): Buffer => {
    const b = Buffer.alloc(64);
    b.writeUInt32LE(name, 0);
    b.writeUInt32LE(type, 4);
    b.writeBigUInt64LE(BigInt(flags), 8);
    b.writeBigUInt64LE(BigInt(at), 24);
    b.writeBigUInt64LE(BigInt(size), 32);
    b.writeUInt32LE(link, 40);
    b.writeUInt32LE(info, 44);
    b.writeBigUInt64LE(BigInt(align), 48);
    b.writeBigUInt64LE(BigInt(entsize), 56);
    return b;
  };
  const headers = [
    Buffer.alloc(64),
    section_(nameAt[1], 3, 0, offsets[0], strtab.length), // SHT_STRTAB
    section_(nameAt[2], 1, 6, offsets[1], 16, 0, 0, 8), // SHT_PROGBITS, ALLOC|EXECINSTR
    section_(nameAt[3], 1, 3, offsets[2], license.length), // SHT_PROGBITS, WRITE|ALLOC
    section_(nameAt[4], 2, 0, offsets[3], symtab.length, 1, 1, 8, 24), // SHT_SYMTAB
  ];
  const elf = Buffer.alloc(64);
  elf.write('\x7fELF', 0, 'latin1');
  elf.writeUInt8(2, 4); // 64-bit
  elf.writeUInt8(1, 5); // little endian
  elf.writeUInt8(1, 6);
  elf.writeUInt16LE(1, 16); // ET_REL
  elf.writeUInt16LE(247, 18); // EM_BPF
  elf.writeUInt32LE(1, 20);
  elf.writeBigUInt64LE(BigInt(offset), 40); // section headers follow the data
  elf.writeUInt16LE(64, 52);
  elf.writeUInt16LE(64, 58);
  elf.writeUInt16LE(headers.length, 60);
  elf.writeUInt16LE(1, 62);
  return Buffer.concat([elf, ...parts, ...headers]);
}

/** Writes the object to a new temporary directory (shared with the lab's namespaces) and returns its path. */
export function writeBpfObject(name: string, section: string, ret: number): string {
  const path = join(mkdtempSync(join(tmpdir(), 'hc-bpf-')), name);
  writeFileSync(path, minimalBpfObject(section, ret));
  return path;
}
