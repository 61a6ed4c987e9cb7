import { Command } from 'commander';
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
      const store = await openStore(command);
      await store.setTag(to, (await readTagged(store, from, source)).descriptor);
    });
}

export function rmiCommand(): Command {
  return new Command('rmi')
    .description('remove image names from the store')
    .argument('<refs...>', 'image references')
    .action(async (refs: string[], _flags: unknown, command: Command) => {
      const names = refs.map(refArg);
      const store = await openStore(command);
      for (const [i, name] of names.entries()) {
        if (!(await store.removeTag(name))) throw new UserError(`image "${refs[i]}" is not in the store (${store.root})`, { hint: '`sealbuild images` lists what the store holds' });
        process.stdout.write(`Untagged: ${name}\n`);
      }
    });
}
