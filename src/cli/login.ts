import { Command } from 'commander';
import { parseReference } from '../oci/reference.js';
import { discard } from '../registry/body.js';
import { removeCredential, saveCredential } from '../registry/credentials.js';
import { RegistryError } from '../registry/registry-error.js';
import { UsageError, UserError } from '../util/errors.js';
import { readStdin, registriesFor, reporterFor } from './common.js';

/** `https://Registry.example.com/` -> `registry.example.com`; Hub's aliases -> `docker.io`. */
function registryArg(text: string): string {
  const host = text.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (host === '') throw new UsageError(`"${text}" is not a registry`, 'e.g. sealbuild login registry.example.com');
  return parseReference(`${host.toLowerCase()}/x`).domain;
}


export function loginCommand(): Command {
  return new Command('login')
    .description("check credentials against a registry and save them in docker's config.json")
    .argument('<registry>', 'registry host[:port]')
    .requiredOption('-u, --username <user>', 'user name')
    .option('-p, --password <password>', 'password (visible in the process list: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (registry: string, flags: { username: string; password?: string; passwordStdin?: boolean }, command: Command) => {
      const domain = registryArg(registry);
      if ((flags.password === undefined) === !flags.passwordStdin) throw new UsageError('give the password with exactly one of --password-stdin or -p', 'e.g. echo "$TOKEN" | sealbuild login REGISTRY -u USER --password-stdin');
      const reporter = reporterFor(command);
      if (flags.password !== undefined) reporter.warn('a password on the command line is visible to other users; use --password-stdin');
      const password = flags.password ?? (await readStdin());
      if (password === '') throw new UsageError('the password is empty', 'pass it on standard input with --password-stdin');
      const registries = await registriesFor(command);
      try {
        const http = registries.withCredential(domain, { username: flags.username, password });
        const res = await http.send({ method: 'GET', url: '/v2/', scopes: [], ok: [200], what: `login to ${domain}` });
        await discard(res.body, http.timeoutMs);
      } catch (err) {
        // "run sealbuild login" is no hint to someone running it.
        if (err instanceof RegistryError && err.credentialsRejected) throw new UserError(`login to ${domain}: the registry rejected user "${flags.username}" with that password`, { hint: 'check the user name and the password or token; nothing was saved' });
        throw err;
      } finally {
        await registries.close();
      }
      const where = await saveCredential(domain, flags.username, password);
      reporter.info(`credentials saved in ${where}`);
      process.stdout.write('Login Succeeded\n');
    });
}

export function logoutCommand(): Command {
  return new Command('logout')
    .description('remove saved credentials for a registry')
    .argument('<registry>', 'registry host[:port]')
    .action(async (registry: string) => {
      const domain = registryArg(registry);
      // As docker: logging out twice is not an error.
      process.stdout.write((await removeCredential(domain)) ? `Removed login credentials for ${domain}\n` : `Not logged in to ${domain}\n`);
    });
}
