import { readdir, readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import { join } from 'node:path';
import type { Agent } from 'undici';
import { CLIENT_CERT_ALERT, tlsAlertOf } from './client-cert-check.js';
import { secureContextWith } from '../util/trusted-cas.js';
import { undici } from './undici.js';

/** How to reach registries: what the user said with --tls-verify and --cert-dir. */
export interface TransportOptions {
  tlsVerify: boolean;
  /** Extra CA certificates (*.crt) and client certificates (*.cert + *.key) for every host. */
  certDir?: string;
  /** --timeout: how long a connection or an answer may take, and a download may go without data. */
  timeoutMs?: number;
}

/** --timeout's default: long enough for a slow registry, short enough that a silent one fails soon. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** Where docker and podman keep per-registry certificates (`<dir>/<host[:port]>/`). */
const SYSTEM_CERT_DIRS = ['/etc/containers/certs.d', '/etc/docker/certs.d'];

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/** Docker Hub's API lives on another host than its name (docs/formats.md §2). */
export function apiHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

interface CertMaterial {
  ca: string[];
  cert?: string;
  key?: string;
}

/** How to connect to one host, and whether a client certificate is set up for it. */
interface HostTls {
  connect: ConnectionOptions;
  clientCertificate: boolean;
}

async function readCertDir(dir: string, into: CertMaterial): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch {
    return;
  }
  for (const name of names) {
    if (name.endsWith('.crt')) into.ca.push(await readFile(join(dir, name), 'utf8'));
    else if (name.endsWith('.cert')) {
      const key = join(dir, name.replace(/\.cert$/, '.key'));
      into.cert = await readFile(join(dir, name), 'utf8');
      into.key = await readFile(key, 'utf8');
    }
  }
}

/**
 * One undici Agent per registry host, with the system CAs, NODE_EXTRA_CA_CERTS's, and that host's
 * CA files and client certificate, as docker and podman find them.
 */
export class Transport {
  private readonly agents = new Map<string, Promise<Agent>>();
  private readonly tlsOptions = new Map<string, Promise<HostTls>>();

  constructor(readonly options: TransportOptions) {}

  get timeoutMs(): number {
    return this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  agentFor(host: string): Promise<Agent> {
    let agent = this.agents.get(host);
    if (!agent) {
      agent = this.makeAgent(host);
      this.agents.set(host, agent);
    }
    return agent;
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map(async (a) => (await a).close()));
    this.agents.clear();
  }

  /**
   * When an HTTPS connection to `host` was cut short: what to tell the user when the registry's
   * TLS alert says it wants a client certificate or refused ours; else undefined.
   */
  async clientCertificateProblem(host: string): Promise<{ message: string; hint: string } | undefined> {
    const tls = await this.tlsOptionsFor(host);
    const alert = await tlsAlertOf(host, tls.connect, this.timeoutMs);
    if (alert === undefined || !CLIENT_CERT_ALERT.test(alert)) return undefined;
    const where = `a HOST.cert and HOST.key pair in /etc/containers/certs.d/${host}/ or in --cert-dir DIR`;
    if (!tls.clientCertificate) return { message: `registry ${host} wants a client certificate (mutual TLS) and none is set up for it (${alert})`, hint: `put ${where}` };
    return { message: `registry ${host} refused our client certificate (${alert})`, hint: `check that the certificate (${where}) is signed by a CA the registry trusts and has not expired` };
  }

  private tlsOptionsFor(host: string): Promise<HostTls> {
    let options = this.tlsOptions.get(host);
    if (!options) {
      options = this.readTlsOptions(host);
      this.tlsOptions.set(host, options);
    }
    return options;
  }

  private async readTlsOptions(host: string): Promise<HostTls> {
    const material: CertMaterial = { ca: [] };
    const dirName = host.replace(/^\[|\]/g, '');
    for (const dir of SYSTEM_CERT_DIRS) await readCertDir(join(dir, host), material);
    if (dirName !== host) for (const dir of SYSTEM_CERT_DIRS) await readCertDir(join(dir, dirName), material);
    if (this.options.certDir) await readCertDir(this.options.certDir, material);
    const clientCertificate = Boolean(material.cert && material.key);
    const secureContext = await secureContextWith({ ca: material.ca, ...(clientCertificate ? { cert: material.cert, key: material.key } : {}) });
    return { connect: { rejectUnauthorized: this.options.tlsVerify, ...(secureContext ? { secureContext } : {}) }, clientCertificate };
  }

  private async makeAgent(host: string): Promise<Agent> {
    const { Agent: UndiciAgent } = await undici();
    return new UndiciAgent({
      connect: { timeout: this.timeoutMs, ...(await this.tlsOptionsFor(host)).connect },
      connections: 8,
      keepAliveTimeout: 10_000,
    });
  }
}
