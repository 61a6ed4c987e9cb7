import { Command } from 'commander';
import { cachedImageRefs } from '../airgap/cached-images-annotation.js';
import { formatPlatform, parsePlatform } from '../oci/platform.js';
import { readTagged, selectPlatform, type ResolvedImage } from '../store/image.js';
import { openStore, printJson, refArg } from './common.js';

function describeImage(image: ResolvedImage) {
  return {
    digest: image.descriptor.digest,
    mediaType: image.descriptor.mediaType,
    platform: formatPlatform(image.platform),
    manifest: image.manifest,
    config: image.config,
    labels: image.config.config?.Labels ?? {},
    annotations: image.manifest.annotations ?? {},
  };
}

export function inspectCommand(): Command {
  return new Command('inspect')
    .description('show an image: digest, manifest, config, labels, layers, history')
    .argument('<ref>', 'image reference')
    .option('--platform <os/arch>', 'the platform to show from a multi-platform image')
    .option('--json', 'print one JSON object')
    .option('--images', 'print only the container images the ClusterImage caches in registry/, one a line (of every platform unless --platform)')
    .action(async (ref: string, flags: { platform?: string; json?: boolean; images?: boolean }, command: Command) => {
      const name = refArg(ref);
      const platform = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;
      const store = await openStore(command, { create: false });
      const target = await readTagged(store, name, ref);
      const single = platform ? selectPlatform(target, platform, ref) : target.index ? undefined : target.images[0];
      if (flags.images) {
        // What `save` takes to write an airgap bundle of them (README: Airgap bundles).
        const refs = new Set((single ? [single] : target.images).flatMap((image) => cachedImageRefs(image.manifest, ref)));
        for (const image of refs) process.stdout.write(`${image}\n`);
        return;
      }
      const report = single
        ? { name, ...describeImage(single) }
        : { name, digest: target.descriptor.digest, mediaType: target.descriptor.mediaType, index: target.index, images: target.images.map(describeImage) };
      if (flags.json) return printJson(report);
      const out = (line: string) => process.stdout.write(`${line}\n`);
      out(`Name:      ${name}`);
      out(`Digest:    ${report.digest}`);
      out(`MediaType: ${report.mediaType}`);
      for (const image of single ? [single] : target.images) {
        out('');
        out(`Platform:  ${formatPlatform(image.platform)}  ${image.descriptor.digest}`);
        out(`Created:   ${image.config.created ?? ''}`);
        const labels = Object.entries(image.config.config?.Labels ?? {});
        if (labels.length > 0) out('Labels:');
        for (const [k, v] of labels) out(`  ${k}=${v}`);
        out('Layers:');
        for (const [i, layer] of image.manifest.layers.entries()) out(`  ${layer.digest}  ${layer.size}  ${image.config.rootfs.diff_ids[i] ?? ''}`);
        out('History:');
        for (const h of image.config.history ?? []) out(`  ${h.empty_layer ? '(no layer) ' : ''}${h.created_by ?? ''}`);
      }
    });
}
