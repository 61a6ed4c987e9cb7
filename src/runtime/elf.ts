import type { Platform } from '../oci/platform.js';

/**
 * What an ELF header says about the machine a file runs on. Only the first 20 bytes are
 * needed (e_ident and e_machine), so checking a 70 MB binary costs one small read.
 */
export interface ElfIdent {
  /** e_machine (EM_X86_64 = 62, EM_AARCH64 = 183, EM_ARM = 40, ...). */
  machine: number;
  /** EI_CLASS: 32 or 64 bits. */
  bits: 32 | 64;
  /** EI_DATA: byte order. */
  endian: 'little' | 'big';
}

/** Bytes to read from the start of a file to identify it. */
export const ELF_HEADER_BYTES = 20;

/**
 * The directories (image paths, no trailing slash) whose ELF files must match the image's
 * architecture: where ClusterImages keep what is installed on the node (binaries in bin/,
 * sealos' opt/, shared libraries in lib/). Archives (cri/*.tar.gz, images/*.tar) are not
 * looked into, and registry/ holds image blobs, never executables for the node.
 */
export const ELF_CHECKED_DIRS = ['bin', 'sbin', 'lib', 'lib64', 'opt', 'usr'] as const;

export function isElfChecked(path: string): boolean {
  return ELF_CHECKED_DIRS.some((dir) => path.startsWith(`${dir}/`));
}

/** The machine each OCI architecture's binaries are built for (Go's GOARCH names). */
const MACHINES: Record<string, ElfIdent & { name: string }> = {
  amd64: { machine: 62, bits: 64, endian: 'little', name: 'x86-64' },
  '386': { machine: 3, bits: 32, endian: 'little', name: 'i386' },
  arm64: { machine: 183, bits: 64, endian: 'little', name: 'aarch64' },
  arm: { machine: 40, bits: 32, endian: 'little', name: 'arm' },
  ppc64le: { machine: 21, bits: 64, endian: 'little', name: 'ppc64le' },
  s390x: { machine: 22, bits: 64, endian: 'big', name: 's390x' },
  riscv64: { machine: 243, bits: 64, endian: 'little', name: 'riscv64' },
  loong64: { machine: 258, bits: 64, endian: 'little', name: 'loongarch64' },
  mips64le: { machine: 8, bits: 64, endian: 'little', name: 'mips64el' },
};

/** The ELF identity in the first bytes of a file; undefined when it is not an ELF file. */
export function parseElfHeader(head: Buffer): ElfIdent | undefined {
  if (head.length < ELF_HEADER_BYTES || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) return undefined;
  const bits = head[4] === 1 ? 32 : head[4] === 2 ? 64 : undefined;
  const endian = head[5] === 1 ? 'little' : head[5] === 2 ? 'big' : undefined;
  if (bits === undefined || endian === undefined) return undefined;
  const machine = endian === 'little' ? head.readUInt16LE(18) : head.readUInt16BE(18);
  return { machine, bits, endian };
}

/** True when a binary with this identity runs on the platform's architecture. */
export function elfMatches(elf: ElfIdent, platform: Platform): boolean {
  const want = MACHINES[platform.architecture];
  return want !== undefined && want.machine === elf.machine && want.bits === elf.bits && want.endian === elf.endian;
}

/** `arm64 (aarch64)`, or the raw fields when no OCI architecture has this identity. */
export function describeElf(elf: ElfIdent): string {
  const arch = Object.entries(MACHINES).find(([, m]) => m.machine === elf.machine && m.bits === elf.bits && m.endian === elf.endian);
  if (arch) return `${arch[0]} (${arch[1].name})`;
  return `e_machine ${elf.machine}, ${elf.bits}-bit ${elf.endian}-endian`;
}

/** The identity a binary for `architecture` has; for tests and stubs. */
export function elfIdentFor(architecture: string): ElfIdent | undefined {
  const m = MACHINES[architecture];
  return m && { machine: m.machine, bits: m.bits, endian: m.endian };
}
