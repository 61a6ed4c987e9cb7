import type { Stats } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { diffSnapshot, diffUpper, listDirectories, takeSnapshot } from '../layer/diff.js';
import type { LayerEntry } from '../layer/tar-writer.js';
import { KubefileError, type SourcePosition } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';
import { opaqueDirectories, overlayTools } from './overlay.js';
import { runCommand } from './sandbox.js';
import type { SandboxOptions } from './sandbox-options.js';

export interface RunInput {
  argv: string[];
  /** The complete environment of the command. */
  env: Map<string, string>;
  /** The stage's filesystem, unpacked: the command's working directory. */
  rootfs: string;
  /** Scratch space of this step (overlayfs upper and work directories, HOME). */
  scratch: string;
  /** The store's root, hidden from the command. */
  storeRoot: string;
  sandbox: SandboxOptions;
  reporter: Reporter;
  /** The RUN instruction, for the error when the command fails. */
  pos: SourcePosition;
}

/**
 * Runs a RUN command on the build host (sealer's model: host tools such as wget or kubeadm,
 * the stage's rootfs as the working directory), sandboxed as --isolation says, and returns
 * what it changed in the rootfs as layer entries: an overlayfs upper directory when overlayfs
 * can be mounted, else the difference of stat snapshots taken before and after (overlay.ts).
 */
export async function runForChanges(input: RunInput): Promise<LayerEntry[]> {
  const tools = await overlayTools(input.scratch);
  const dirs = { lower: input.rootfs, upper: join(input.scratch, 'upper'), work: join(input.scratch, 'work') };
  const merged = join(input.scratch, 'merged');
  if (tools) for (const dir of [dirs.upper, dirs.work, merged]) await mkdir(dir);
  const before = tools ? undefined : await takeSnapshot(input.rootfs);
  const { reporter } = input;
  const outcome = await runCommand({
    argv: input.argv, dir: tools ? merged : input.rootfs, env: Object.fromEntries(input.env), scratch: input.scratch, storeRoot: input.storeRoot, onLine: (line) => reporter.output(line),
    ...(tools ? { overlay: { tools, dirs } } : {}),
  }, input.sandbox);
  if (outcome.code !== 0) {
    const how = outcome.code === undefined ? `was killed by ${outcome.signal}` : `failed with exit code ${outcome.code}`;
    const tail = outcome.tail.map((l) => l.replace(/[\x00-\x1f\x7f]/g, ' ').trim()).filter((l) => l !== '').join(' | ');
    throw new KubefileError(input.pos, `RUN ${how}${tail === '' ? ' (no output)' : `: ${tail.length > 400 ? `…${tail.slice(-400)}` : tail}`}`, 'fix the command or what it needs; nothing was stored');
  }
  const own = process.getuid?.();
  const options = {
    owner: (s: Stats) => (own === 0 || s.uid !== own ? { uid: s.uid, gid: s.gid } : { uid: 0, gid: 0 }),
    warn: (m: string) => reporter.warn(m),
  };
  return tools
    ? await diffUpper(dirs.upper, await opaqueDirectories(tools, dirs.upper, await listDirectories(dirs.upper)), options)
    : await diffSnapshot(input.rootfs, before!, options);
}
