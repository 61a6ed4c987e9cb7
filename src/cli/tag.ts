import { Command } from 'commander';
import { orphanedAttachmentTags } from '../store/attachments.js';
import { readTagged } from '../store/image.js';
import { UserError } from '../util/errors.js';
import { openStore, refArg } from './common.js';

export function tagCommand(): Command {
  return new Command('tag')
    .description('give an image in the store another name')
    .argument('<source>', 'existing image reference')
    .argument('<target>', 'new reference')
    .action(async (source: string, target: string, _flags: unknown, command: Command) => {
      const [from, to] = [refArg(source), refArg(target)];
      const store = await openStore(command, { create: false });
      const { descriptor } = await readTagged(store, from, source);
      await store.setTag(to, descriptor);
      process.stdout.write(`Tagged: ${to} ${descriptor.digest}\n`);
    });
}

export function rmiCommand(): Command {
  return new Command('rmi')
    .description('remove image names from the store, with the signatures and SBOMs of images left without a name')
    .argument('<refs...>', 'image references')
    .action(async (refs: string[], _flags: unknown, command: Command) => {
      const names = refs.map(refArg);
      const store = await openStore(command, { create: false });
      for (const [i, name] of names.entries()) {
        // Asked first: a store that does not exist cannot be locked, and has no tag to remove.
        if ((await store.resolveTag(name)) === undefined || !(await store.removeTag(name))) throw new UserError(`image "${refs[i]}" is not in the store (${store.root})`, { hint: '`sealbuild images` lists what the store holds' });
        process.stdout.write(`Untagged: ${name}\n`);
      }
      // Signatures and SBOM indexes of images that lost their last name go too (prune frees their blobs).
      for (const tag of await orphanedAttachmentTags(store)) {
        await store.removeTag(tag);
        process.stdout.write(`Untagged: ${tag}\n`);
      }
    });
}
