import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { removeDir, run, tempDir, tool } from './cli.js';

export interface RegistryOptions {
  /** Serve HTTPS with this certificate and key (see certs.ts). */
  tls?: { cert: string; key: string };
  /** Basic auth with one bcrypt htpasswd user. */
  htpasswd?: { user: string; password: string };
  /** Token auth against a token server (see token-server.ts). */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Keep blobs here (kept after stop()) instead of in the registry's own temporary dir. */
  storageDir?: string;
}

export interface Registry {
  /** `127.0.0.1:PORT`, the registry part of an image reference. */
  host: string;
  /** `http://127.0.0.1:PORT` or `https://…` with TLS; no trailing slash. */
  url: string;
  /** The filesystem driver's root directory (distribution's `docker/registry/v2/…` tree). */
  storageDir: string;
  /** Stops the registry and removes its temporary dir; safe to call twice. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 3;

/*
 * The registry runs under a small bash guardian that holds a pipe from this process on its
 * stdin. When the pipe reaches end of file, because stop() closed it or because this process
 * died in any way (even SIGKILL, which runs no exit handler), the guardian stops the registry
 * and removes the scratch dir. If the registry exits by itself (bad config, port taken) the
 * guardian says so on stdout, so start-up fails at once with the log, and it keeps the scratch
 * dir (and the log in it) until the pipe closes.
 */
const GUARDIAN = String.raw`
scratch=$1 registry_bin=$2
exec 3<&0 </dev/null
"$registry_bin" serve "$scratch/config.yml" >"$scratch/registry.log" 2>&1 3<&- &
registry=$!
{ read -r _ <&3; kill "$registry" 2>/dev/null; } &
watcher=$!
trap "" PIPE # the test process may be gone: the echo below must not kill us before rm
wait "$registry"
echo "registry exited $?" 2>/dev/null
kill "$watcher" 2>/dev/null
read -r _ <&3
rm -rf "$scratch"
`;

/** What a registry test file starts from: a scratch directory, the store root in it, and a registry (`h`: its host). */
export async function registryScratch(): Promise<{ work: string; root: string; registry: Registry; h: string }> {
  const work = await tempDir();
  const registry = await startRegistry();
  return { work, root: join(work, 'root'), registry, h: registry.host };
}

/** Stops the registry and removes the scratch directory, as far as registryScratch got. */
export async function removeRegistryScratch(registry: Registry | undefined, work: string | undefined): Promise<void> {
  await registry?.stop();
  if (work !== undefined) await removeDir(work);
}

/** Starts distribution's registry (`docker-registry serve`) on a free loopback port. */
export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  if (options.htpasswd && options.token) throw new Error('startRegistry: distribution takes one auth method, not htpasswd and token');
  const binary = tool('docker-registry', 'docker-registry');
  const htpasswdBin = options.htpasswd ? tool('htpasswd', 'apache2-utils') : undefined;
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const scratch = await tempDir('sealbuild-registry-');
    const storageDir = options.storageDir ?? join(scratch, 'storage');
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const url = `${options.tls ? 'https' : 'http'}://${host}`;
    const config: Record<string, unknown> = {
      version: '0.1',
      log: { level: 'error', formatter: 'text', accesslog: { disabled: true } },
      storage: {
        filesystem: { rootdirectory: storageDir },
        delete: { enabled: true },
        // Purging runs in the background and would touch storage while a test inspects it.
        maintenance: { uploadpurging: { enabled: false } },
      },
      // A fixed secret silences distribution's warning and signs upload state (`_state`).
      http: { addr: host, secret: randomBytes(16).toString('hex'), ...(options.tls ? { tls: { certificate: options.tls.cert, key: options.tls.key } } : {}) },
    };
    if (options.htpasswd && htpasswdBin) {
      const path = join(scratch, 'htpasswd');
      // distribution accepts bcrypt entries only.
      await writeFile(path, run(htpasswdBin, ['-Bbn', options.htpasswd.user, options.htpasswd.password]));
      config.auth = { htpasswd: { realm: 'sealbuild-test', path } };
    } else if (options.token) {
      const t = options.token;
      config.auth = { token: { realm: t.realm, service: t.service, issuer: t.issuer, rootcertbundle: t.rootCertBundle } };
    }
    await writeFile(join(scratch, 'config.yml'), stringify(config));

    const child = spawn('bash', ['-c', GUARDIAN, 'registry-guardian', scratch, binary], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    let stopped = false;
    const stop = async (): Promise<void> => {
      if (!stopped) {
        stopped = true;
        child.ref();
        child.stdin?.end();
      }
      await exited;
    };
    try {
      await waitReady(child, url, scratch);
    } catch (err) {
      await stop();
      lastError = err as Error;
      // Another process can take the port between freePort() and the registry's bind.
      if (/address already in use/.test(lastError.message)) continue;
      throw lastError;
    }
    // A test that forgets stop() must not keep the test process alive; the guardian cleans up
    // when the process exits.
    child.unref();
    (child.stdin as Socket).unref();
    (child.stdout as Socket).unref();
    return { host, url, storageDir, stop };
  }
  throw lastError ?? new Error('docker-registry did not start');
}

/** A port the kernel just handed out; the registry binds it right after. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves when `GET /v2/` answers 200 or 401; rejects with the registry's log if it exits. */
async function waitReady(child: ChildProcess, url: string, scratch: string): Promise<void> {
  let exitLine: string | undefined;
  child.stdout?.on('data', (d: Buffer) => (exitLine = d.toString().trim()));
  const failure = async (why: string): Promise<Error> => {
    const log = await readFile(join(scratch, 'registry.log'), 'utf8').catch(() => '');
    return new Error(`docker-registry ${why}: ${log.trim() || '(empty log)'}`);
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exitLine !== undefined) throw await failure(exitLine.replace(/^registry /, ''));
    const status = await probe(`${url}/v2/`);
    if (status === 200 || status === 401) return;
    await sleep(20);
  }
  throw await failure(`did not answer ${url}/v2/ within ${START_TIMEOUT_MS} ms`);
}

/** The status of one GET, or 0 when nothing answers yet. */
function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    // The probe only asks "is it up?"; certificate trust is what the tests themselves check.
    const req = url.startsWith('https:') ? httpsRequest(url, { rejectUnauthorized: false }) : httpRequest(url);
    req.setTimeout(1000, () => req.destroy());
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}
