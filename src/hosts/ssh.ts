import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import ssh2, { Client, type ConnectConfig } from 'ssh2';
import { HostError, shellQuote, type ExecOptions, type ExecResult, type Host } from './host.js';
import type { KnownHosts } from './known-hosts.js';

/** How to log in: sealer's and sealos' flags (-u, -p, --pk, --pk-passwd, --port). */
export interface SshAuth {
  user: string;
  port: number;
  password?: string;
  /** Path of a private key; used when it exists. */
  privateKeyFile?: string;
  privateKeyPassphrase?: string;
}

export interface SshOptions {
  auth: SshAuth;
  /** undefined = accept any host key (--insecure-host-keys). */
  knownHosts: KnownHosts | undefined;
  knownHostsFile: string;
  /** Every command and its output is appended here. */
  logFile: string;
}

/** Connecting (TCP + key exchange + login) gives up after this long. */
const CONNECT_TIMEOUT_MS = 15_000;
/** A host that stops answering is given up after about 3 keepalives (15 s). */
const KEEPALIVE_MS = 5_000;
/** Output kept in memory per command (all of it goes to the log file). */
const MAX_KEPT = 256 * 1024;

/** A host reached over SSH (ssh2). One connection, many commands over channels. */
export class SshHost implements Host {
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private readonly log: WriteStream;

  constructor(
    readonly address: string,
    private readonly options: SshOptions,
  ) {
    this.log = createWriteStream(options.logFile, { flags: 'a', mode: 0o600 });
  }

  /** Opens the connection; errors name the host and say why (unreachable, login, host key). */
  connect(): Promise<Client> {
    this.connecting ??= this.open().catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  private async open(): Promise<Client> {
    const { auth, knownHosts, knownHostsFile } = this.options;
    let hostKey: 'match' | 'mismatch' | 'unknown' | 'accepted' = 'accepted';
    const config: ConnectConfig = {
      host: this.address,
      port: auth.port,
      username: auth.user,
      readyTimeout: CONNECT_TIMEOUT_MS,
      keepaliveInterval: KEEPALIVE_MS,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        if (!knownHosts) return true;
        hostKey = knownHosts.check(this.address, auth.port, key);
        return hostKey === 'match';
      },
    };
    if (auth.password !== undefined) config.password = auth.password;
    if (auth.privateKeyFile !== undefined) {
      const key = await readFile(auth.privateKeyFile).catch(() => undefined);
      // Read here, not by ssh2 inside connect(), so a key that cannot be read (a missing or
      // wrong --pk-passwd) is one line naming it; with a password the key is not needed.
      const parsed = key && ssh2.utils.parseKey(key, auth.privateKeyPassphrase);
      if (parsed instanceof Error && auth.password === undefined) {
        throw new HostError(this.address, 'connect', `cannot use the private key ${auth.privateKeyFile}: ${parsed.message}`, auth.privateKeyPassphrase === undefined ? 'an encrypted key needs --pk-passwd' : 'check --pk-passwd');
      }
      if (key && !(parsed instanceof Error)) {
        config.privateKey = key;
        if (auth.privateKeyPassphrase !== undefined) config.passphrase = auth.privateKeyPassphrase;
      }
    }
    if (config.password === undefined && config.privateKey === undefined) {
      throw new HostError(this.address, 'connect', `no password and no readable private key${auth.privateKeyFile ? ` (${auth.privateKeyFile})` : ''}`, 'give -p PASSWORD or --pk FILE');
    }
    const client = new Client();
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve);
      client.once('error', (err: Error & { level?: string; code?: string }) => {
        if (hostKey === 'mismatch') {
          reject(new HostError(this.address, 'connect', `its host key does not match ${knownHostsFile}: refusing to connect (possible man-in-the-middle)`, `if the host was reinstalled, remove its line with \`ssh-keygen -R ${this.address}\``));
        } else if (hostKey === 'unknown') {
          reject(new HostError(this.address, 'connect', `its host key is not in ${knownHostsFile}`, `check it and add it (\`ssh-keyscan -p ${auth.port} ${this.address} >> ${knownHostsFile}\`), or pass --insecure-host-keys to accept any`));
        } else if (err.level === 'client-authentication') {
          reject(new HostError(this.address, 'connect', `login as ${auth.user} failed (wrong password or key)`, 'check -u, -p and --pk'));
        } else if (err.level === 'client-timeout' || /timed out/i.test(err.message)) {
          reject(new HostError(this.address, 'connect', `unreachable: no SSH answer on port ${auth.port} within ${CONNECT_TIMEOUT_MS / 1000} s`, 'check the address, the port and that sshd runs'));
        } else {
          reject(new HostError(this.address, 'connect', `unreachable: ${err.message}`, 'check the address, the port and that sshd runs'));
        }
      });
      client.connect(config);
    });
    // Errors after login (a dropped connection) fail the command in flight, via its channel.
    client.on('error', () => {});
    client.on('close', () => {
      if (this.client === client) this.client = undefined;
      this.connecting = undefined;
    });
    this.client = client;
    return client;
  }

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const client = await this.connect();
    const line = this.options.auth.user === 'root' ? command : `sudo -n sh -c ${shellQuote(command)}`;
    this.log.write(`[${new Date().toISOString()}] $ ${command}\n`);
    return new Promise<ExecResult>((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      let settled = false;
      const finish = (err: Error | undefined, code = -1) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.removeListener('close', onClose);
        if (err) reject(err);
        else resolve({ code, stdout, stderr });
      };
      const onClose = () => finish(new Error('the connection was lost'));
      client.once('close', onClose);
      const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
        finish(new Error(`no result after ${Math.round(options.timeoutMs! / 1000)} s`));
        client.end();
      }, options.timeoutMs);
      client.exec(line, (err, channel) => {
        if (err) return finish(err);
        channel.on('data', (d: Buffer) => {
          this.log.write(d);
          if (stdout.length < MAX_KEPT) stdout += d.toString();
        });
        channel.stderr.on('data', (d: Buffer) => {
          this.log.write(d);
          if (stderr.length < MAX_KEPT) stderr += d.toString();
          else stderr = stderr.slice(-MAX_KEPT / 2) + d.toString();
        });
        channel.on('exit', (code: number | null, signal?: string) => {
          if (code === null) stderr += `\nkilled by ${signal ?? 'a signal'}`;
          this.log.write(`[${new Date().toISOString()}] exit ${code ?? signal}\n`);
        });
        channel.on('close', (code: number | null) => finish(undefined, code ?? -1));
        if (options.stdin) {
          options.stdin.on('error', (e) => {
            channel.destroy();
            finish(e);
          });
          options.stdin.pipe(channel);
        } else channel.end();
      });
    });
  }

  async close(): Promise<void> {
    this.client?.end();
    await new Promise<void>((resolve) => this.log.end(resolve));
  }
}
