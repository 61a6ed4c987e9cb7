import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { parseJson } from '../oci/schemas.js';
import { UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

/** What a registry is told: a password, or an OAuth identity (refresh) token. */
export type Credential = { username: string; password: string } | { identityToken: string };

const AuthEntry = z.looseObject({ auth: z.string().optional(), identitytoken: z.string().optional(), username: z.string().optional(), password: z.string().optional() });
const ConfigFile = z.looseObject({
  auths: z.record(z.string(), AuthEntry).optional(),
  credHelpers: z.record(z.string(), z.string()).optional(),
  credsStore: z.string().optional(),
});
type ConfigFile = z.infer<typeof ConfigFile>;

const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

/** docker's own config file: where login writes. */
export function dockerConfigPath(): string {
  return join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

/** The files credentials are read from, in order (docs/formats.md §2). */
function credentialFiles(): string[] {
  const files = [dockerConfigPath()];
  if (process.env.REGISTRY_AUTH_FILE) files.push(process.env.REGISTRY_AUTH_FILE);
  if (process.env.XDG_RUNTIME_DIR) files.push(join(process.env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  return files;
}

/** The keys a registry may be stored under: docker writes Hub as its v1 URL. */
function keysFor(domain: string): string[] {
  if (domain === 'docker.io') return [DOCKER_HUB_KEY, 'docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1'];
  return [domain, `https://${domain}`, `http://${domain}`, `https://${domain}/v1/`, `https://${domain}/v2/`];
}

/** The key login writes under (docker's convention). */
function storeKey(domain: string): string {
  return domain === 'docker.io' ? DOCKER_HUB_KEY : domain;
}

async function readConfig(file: string): Promise<ConfigFile | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    return undefined;
  }
  return parseJson(ConfigFile, bytes, file);
}

function fromEntry(entry: z.infer<typeof AuthEntry>, file: string, key: string): Credential | undefined {
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString();
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new UserError(`${file}: the "auth" of ${key} is not base64 of user:password`, { hint: `run sealbuild login ${key} again` });
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return undefined;
}

/** Runs `docker-credential-<helper> <action>` with `input` on stdin; stdout back. */
function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${helper}`, [action], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(new UserError(`credential helper docker-credential-${helper} could not run: ${err.code ?? err.message}`, { hint: 'install it or remove it from credHelpers/credsStore in your docker config' })),
    );
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
    child.stdin.end(input);
  });
}

async function fromHelper(helper: string, domain: string): Promise<Credential | undefined> {
  const { code, stdout } = await runHelper(helper, 'get', storeKey(domain));
  // Helpers exit non-zero with "credentials not found" when they hold nothing for the host.
  if (code !== 0) return undefined;
  const parsed = parseJson(z.looseObject({ Username: z.string(), Secret: z.string() }), stdout, `docker-credential-${helper}`);
  return parsed.Username === '<token>' ? { identityToken: parsed.Secret } : { username: parsed.Username, password: parsed.Secret };
}

/**
 * Credentials for a registry, looked up as docker and podman do: per file, credHelpers for
 * the host, then credsStore, then auths. Undefined means anonymous.
 */
export async function findCredential(domain: string): Promise<Credential | undefined> {
  for (const file of credentialFiles()) {
    const config = await readConfig(file);
    if (!config) continue;
    const helper = keysFor(domain).map((k) => config.credHelpers?.[k]).find((h) => h !== undefined);
    if (helper) return fromHelper(helper, domain);
    if (config.credsStore) {
      const stored = await fromHelper(config.credsStore, domain);
      if (stored) return stored;
    }
    for (const key of keysFor(domain)) {
      const entry = config.auths?.[key];
      if (entry) {
        const credential = fromEntry(entry, file, key);
        if (credential) return credential;
      }
    }
  }
  return undefined;
}

/** Saves a password the way `docker login` does: credsStore if configured, else auths. */
export async function saveCredential(domain: string, username: string, password: string): Promise<string> {
  const file = dockerConfigPath();
  const config = (await readConfig(file)) ?? {};
  const key = storeKey(domain);
  const helper = config.credHelpers?.[key] ?? config.credsStore;
  if (helper) {
    const { code } = await runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: username, Secret: password }));
    if (code !== 0) throw new UserError(`docker-credential-${helper} could not store the credentials for ${domain}`, { hint: 'check the helper, or remove credsStore from your docker config' });
    return `docker-credential-${helper}`;
  }
  config.auths = { ...config.auths, [key]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } };
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${JSON.stringify(config, null, '\t')}\n`, 0o600);
  return file;
}

/** Removes saved credentials; false when there were none. */
export async function removeCredential(domain: string): Promise<boolean> {
  const file = dockerConfigPath();
  const config = await readConfig(file);
  if (!config) return false;
  const key = storeKey(domain);
  const helper = config.credHelpers?.[key] ?? config.credsStore;
  let removed = false;
  if (helper) removed = (await runHelper(helper, 'erase', key)).code === 0;
  const keys = keysFor(domain).filter((k) => config.auths?.[k] !== undefined);
  if (keys.length > 0) {
    for (const k of keys) delete config.auths![k];
    await writeFileAtomic(file, `${JSON.stringify(config, null, '\t')}\n`, 0o600);
    removed = true;
  }
  return removed;
}
