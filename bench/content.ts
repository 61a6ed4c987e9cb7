import { createCipheriv, createHash, type Cipher } from 'node:crypto';

/**
 * Shares of a generated file: `random` bytes do not compress at all (like data that is
 * already compressed), `code` compresses about 3x with gzip (skewed byte values, many zeros,
 * short repeats: like machine code and tables), `text` about 3.3x (words from a fixed
 * vocabulary: like strings, YAML, manifests). The rest after random and code is text.
 */
export interface ContentMix {
  random: number;
  code: number;
}

const ZEROS = Buffer.alloc(1024 * 1024);

/** code bytes: 44% zero, 25% small values, 16% a few common opcodes, the rest anything. */
const CODE_TABLE = Uint8Array.from({ length: 256 }, (_, x) => (x < 112 ? 0 : x < 176 ? x & 7 : x < 216 ? 0x48 + (x & 3) : x));

/**
 * Deterministic, fast, semi-compressible bytes: the same seed gives the same content on any
 * machine, so benchmark runs compare like with like. The randomness is an AES-128-CTR
 * keystream (hardware-accelerated, GB/s); nothing repeats at long distance, so zstd's larger
 * window gains no unrealistic advantage over gzip's 32 KiB.
 */
export class ContentGenerator {
  private readonly keystream: Cipher;
  private readonly words: Buffer[];

  constructor(seed: string) {
    const key = createHash('sha256').update(seed).digest().subarray(0, 16);
    this.keystream = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
    this.words = makeVocabulary(this.random(64 * 1024));
  }

  random(size: number): Buffer {
    const parts: Buffer[] = [];
    for (let left = size; left > 0; left -= ZEROS.length) parts.push(this.keystream.update(ZEROS.subarray(0, Math.min(left, ZEROS.length))));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
  }

  /** Fills `out` with segments of 0.5-8 KiB, each random, code or text per `mix`. */
  fill(out: Buffer, mix: ContentMix): void {
    let offset = 0;
    while (offset < out.length) {
      const control = this.random(4);
      const length = Math.min(out.length - offset, 512 + (control.readUInt16LE(0) % 7680));
      const pick = control[2]! / 256;
      const segment = out.subarray(offset, offset + length);
      if (pick < mix.random) this.random(length).copy(segment);
      else if (pick < mix.random + mix.code) this.code(segment);
      else this.text(segment);
      offset += length;
    }
  }

  private code(out: Buffer): void {
    const noise = this.random(out.length);
    for (let i = 0; i < out.length; i++) out[i] = CODE_TABLE[noise[i]!]!;
    // Short back-references, like repeated instruction sequences.
    for (let i = 16; i + 48 < out.length; i += 8 + (noise[i]! & 15)) {
      const back = 8 + noise[i + 1]! * 8;
      const length = 8 + (noise[i + 2]! & 31);
      if (i >= back) {
        out.copyWithin(i, i - back, i - back + length);
        i += length;
      }
    }
  }

  private text(out: Buffer): void {
    // At least a few bytes of noise even for a tail segment of 1 or 2 bytes.
    const noise = this.random(Math.max(out.length, 64));
    let offset = 0;
    let r = 0;
    while (offset < out.length) {
      // Product of three bytes: a skewed (Zipf-like) choice, common words much more common.
      const word = this.words[((noise[r]! * noise[r + 1]! * noise[r + 2]!) >> 13) % this.words.length]!;
      r = (r + 3) % (noise.length - 3);
      offset += word.copy(out, offset);
    }
  }
}

/** 2,048 pseudo-words of 2-11 letters (frequent letters more likely), each ending in a space or newline. */
function makeVocabulary(noise: Buffer): Buffer[] {
  const letters = Buffer.from('etaoinshrdlcumwfgypbvkjxqz_.');
  const words: Buffer[] = [];
  let r = 0;
  for (let i = 0; i < 2048; i++) {
    const length = 2 + (noise[r++]! % 10);
    const word = Buffer.alloc(length + 1);
    for (let j = 0; j < length; j++) word[j] = letters[Math.floor((noise[r++]! / 256) ** 2 * letters.length)]!;
    word[length] = noise[r++]! % 10 === 0 ? 0x0a : 0x20;
    words.push(word);
  }
  return words;
}
