import { readFile } from 'node:fs/promises';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';

let fromEnv: Promise<string[]> | undefined;
/** The context of every host and download with nothing of its own: built once per process. */
let shared: Promise<SecureContext | undefined> | undefined;

/**
 * NODE_EXTRA_CA_CERTS's certificates, read on the first TLS connection: the bin's shebang keeps
 * Node from parsing that file at every start (src/cli/bin.ts), and most commands never use TLS.
 * An unreadable file is a warning, as it is to Node.
 */
function extraFromEnv(): Promise<string[]> {
  fromEnv ??= (async () => {
    const file = process.env.NODE_EXTRA_CA_CERTS;
    if (!file) return [];
    try {
      return [await readFile(file, 'utf8')];
    } catch (err) {
      process.stderr.write(`WARNING: NODE_EXTRA_CA_CERTS: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); its certificates are not trusted\n`);
      return [];
    }
  })();
  return fromEnv;
}

/**
 * The TLS context for connections that trust Node's bundled CAs, NODE_EXTRA_CA_CERTS's and `ca`,
 * with an optional client certificate; undefined when Node's default context is the same. Make one
 * per host and reuse it: parsing some 300 CA certificates takes tens of milliseconds, which a
 * `ca` option in every connection's options would pay per connection. Hosts and downloads with no
 * CA or certificate of their own share one.
 */
export function secureContextWith(material: { ca: string[]; cert?: string; key?: string }): Promise<SecureContext | undefined> {
  if (material.ca.length > 0 || material.cert !== undefined) return build(material);
  shared ??= build(material);
  return shared;
}

async function build(material: { ca: string[]; cert?: string; key?: string }): Promise<SecureContext | undefined> {
  const ca = [...(await extraFromEnv()), ...material.ca];
  if (ca.length === 0 && material.cert === undefined) return undefined;
  return createSecureContext({
    ...(ca.length > 0 ? { ca: [...rootCertificates, ...ca] } : {}),
    ...(material.cert !== undefined ? { cert: material.cert, key: material.key } : {}),
  });
}
