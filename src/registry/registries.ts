import type { Reference } from '../oci/reference.js';
import { RepositoryClient } from './client.js';
import type { Credential } from './credentials.js';
import { RegistryHttp } from './http.js';
import { Transport, type TransportOptions } from './transport.js';

/** Registry connections for one command: one RegistryHttp (scheme, auth, tokens) per host. */
export class Registries {
  private readonly transport: Transport;
  private readonly hosts = new Map<string, RegistryHttp>();

  constructor(options: TransportOptions) {
    this.transport = new Transport(options);
  }

  /** A connection that uses `credential` instead of the saved credentials (for login). */
  withCredential(domain: string, credential: Credential): RegistryHttp {
    return new RegistryHttp(domain, this.transport, credential);
  }

  http(domain: string): RegistryHttp {
    let http = this.hosts.get(domain);
    if (!http) {
      http = new RegistryHttp(domain, this.transport);
      this.hosts.set(domain, http);
    }
    return http;
  }

  repository(ref: Reference, push = false): RepositoryClient {
    return new RepositoryClient(this.http(ref.domain), ref.path, push);
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
