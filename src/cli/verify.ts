import { stat } from 'node:fs/promises';
import { Command } from 'commander';
import { parsePlatform } from '../oci/platform.js';
import { verifyDirectory, verifyStoredImage, type PlatformReport } from '../runtime/verify.js';
import { readTagged } from '../store/image.js';
import { isUpstreamTool, UPSTREAM_TOOLS, type UpstreamTool } from '../runtime/upstream-contract.js';
import { UsageError, UserError } from '../util/errors.js';
import { openStore, printJson, refArg } from './common.js';

export function verifyCommand(): Command {
  return new Command('verify')
    .description("check a ClusterImage (or an exported rootfs directory) against its cluster runtime's contract, per platform")
    .argument('<ref|dir>', 'an image in the store, or a rootfs directory')
    .option('--platform <os/arch>', 'only this platform (for a directory: its platform, when its Metadata is unreadable)')
    .option('--contract <tools>', `also check what these installers read from the image, comma-separated: ${UPSTREAM_TOOLS.join(', ')} (docs/rootfs-contract.md)`, parseContracts)
    .option('--json', 'print the report as JSON')
    .action(async (subject: string, flags: { platform?: string; contract?: UpstreamTool[]; json?: boolean }, command: Command) => {
      const platform = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;
      const upstream = flags.contract ?? [];
      const isDir = await stat(subject).then((s) => s.isDirectory(), () => false);
      let reports: PlatformReport[];
      if (isDir) {
        reports = [await verifyDirectory(subject, platform, upstream)];
      } else {
        const name = refArg(subject);
        const store = await openStore(command, { create: false });
        reports = await verifyStoredImage(store, await readTagged(store, name, subject), subject, platform, upstream);
      }
      const failures = reports.flatMap((r) => r.findings.filter((f) => !f.ok).map(() => r.platform));
      if (flags.json) printJson({ subject, ok: failures.length === 0, platforms: reports });
      else {
        const out = (line: string) => process.stdout.write(`${line}\n`);
        for (const report of reports) {
          out(`${subject} ${report.platform}${report.digest ? ` ${report.digest}` : ''}`);
          const width = Math.max(...report.findings.map((f) => f.subject.length));
          for (const f of report.findings) out(`  ${f.ok ? 'ok  ' : 'FAIL'}  ${f.subject.padEnd(width)}  ${f.message}`);
        }
      }
      if (failures.length > 0) {
        const platforms = [...new Set(failures)];
        const whose = upstream.length > 0 ? `the contracts checked (sealbuild's, ${upstream.map((t) => `${t}'s`).join(', ')})` : "its cluster runtime's contract";
        throw new UserError(`${subject} does not meet ${whose}: ${failures.length} problem${failures.length > 1 ? 's' : ''} (${platforms.join(', ')})`, {
          hint: 'see the FAIL lines above; rebuild with the missing pieces',
        });
      }
      if (!flags.json) process.stdout.write(`verified: ${reports.map((r) => r.platform).join(', ')}\n`);
    });
}

/** `--contract sealos,sealer`: each name once, in the order given. */
function parseContracts(value: string): UpstreamTool[] {
  const names = value.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !isUpstreamTool(n));
  if (unknown.length > 0) throw new UsageError(`--contract: "${unknown.join(', ')}" is not one of ${UPSTREAM_TOOLS.join(', ')}`, 'write --contract sealos, --contract sealer or --contract sealos,sealer');
  return [...new Set(names as UpstreamTool[])];
}
