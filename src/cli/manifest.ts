import { Command } from 'commander';
import { parseReference } from '../oci/reference.js';
import { openStore, printJson, refArg, reporterFor, withRegistries } from './common.js';

/** Loaded on demand like the rest of the registry code: only these commands need it. */
const lists = () => import('../transfer/manifest-list.js');

export function manifestCommand(): Command {
  const manifest = new Command('manifest').description('join per-platform images (built on different machines) into one index');
  manifest
    .command('create')
    .description('make LIST an index of the images REF... (from the store, else from their registry); replaces an existing LIST')
    .argument('<list>', 'the name of the index in the store')
    .argument('<refs...>', 'per-platform images or indexes')
    .action(async (list: string, refs: string[], _flags: unknown, command: Command) => {
      const [name, names] = [refArg(list), refs.map(refArg)];
      const store = await openStore(command);
      const { createList } = await lists();
      const created = await withRegistries(command, (registries) => createList(store, registries, name, names));
      process.stdout.write(`${created.digest}\n`);
    });
  manifest
    .command('add')
    .description('add the images REF... to LIST; a platform LIST has already is replaced')
    .argument('<list>', 'an index in the store')
    .argument('<refs...>', 'per-platform images or indexes')
    .action(async (list: string, refs: string[], _flags: unknown, command: Command) => {
      const [name, names] = [refArg(list), refs.map(refArg)];
      const { createList, readList } = await lists();
      const store = await openStore(command);
      const existing = await readList(store, name, list);
      const created = await withRegistries(command, (registries) => createList(store, registries, name, names, existing?.index));
      process.stdout.write(`${created.digest}\n`);
    });
  manifest
    .command('inspect')
    .description('print the index of LIST: from the store, else from its registry')
    .argument('<list>', 'an index in the store or a registry')
    .action(async (list: string, _flags: unknown, command: Command) => {
      const name = refArg(list);
      const store = await openStore(command, { create: false });
      const stored = await (await lists()).readList(store, name, list);
      if (stored) return printJson(stored.index);
      const ref = parseReference(name);
      const fetched = await withRegistries(command, (registries) => registries.repository(ref).getManifest(ref.digest ?? ref.tag ?? 'latest'));
      printJson(JSON.parse(fetched.bytes.toString()));
    });
  manifest
    .command('push')
    .description('push LIST to DEST (default: its own name); each platform must be in that repository already')
    .argument('<list>', 'an index in the store')
    .argument('[destination]', 'where to push')
    .action(async (list: string, destination: string | undefined, _flags: unknown, command: Command) => {
      const name = refArg(list);
      if (destination !== undefined) refArg(destination);
      const reporter = reporterFor(command);
      const store = await openStore(command, { create: false });
      const { pushList } = await lists();
      const result = await withRegistries(command, (registries) => pushList(store, registries, name, list, destination));
      reporter.info(`Pushed ${result.destination}: ${result.digest}`, { digest: result.digest });
      process.stdout.write(`${result.digest}\n`);
    });
  return manifest;
}
