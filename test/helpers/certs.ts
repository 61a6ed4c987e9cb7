import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, tool } from './cli.js';

export interface TestCA {
  /** PEM certificate of the CA: what a client is told to trust. */
  caCert: string;
  /** PEM private key of the CA. */
  caKey: string;
}

export interface ServerCert {
  cert: string;
  key: string;
}

// File names avoid `.key` and `.cert`: containers/image (skopeo, buildah) and docker read a
// cert dir as `*.crt` = trusted CA and `*.cert` + `*.key` = client pair, and fail on a `.key`
// without its `.cert`. So `dir` itself can be passed as `--cert-dir` and trusts the CA only.

// EC keys: generated instantly, and accepted by Go's TLS stack and by Node.
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A throwaway CA in `dir` (`ca.crt`, `ca-key.pem`), valid for two days. */
export async function makeTestCA(dir: string): Promise<TestCA> {
  const openssl = tool('openssl', 'openssl');
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca-key.pem');
  run(openssl, [
    'req', '-x509', ...EC_KEY, '-keyout', caKey, '-out', caCert, '-days', '2',
    '-subj', '/CN=sealbuild test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { caCert, caKey };
}

/**
 * A server certificate signed by `ca`, valid for 127.0.0.1, localhost and `hosts` (IP
 * addresses become IP SANs, anything else DNS SANs). Files are `server-<random>.pem` and
 * `server-<random>-key.pem` in `dir`, so several can live side by side.
 */
export async function issueServerCert(ca: TestCA, dir: string, hosts: string[]): Promise<ServerCert> {
  const openssl = tool('openssl', 'openssl');
  const name = join(dir, `server-${randomBytes(4).toString('hex')}`);
  const cert = `${name}.pem`;
  const key = `${name}-key.pem`;
  const csr = `${name}.csr`;
  const ext = `${name}.ext`;
  const sans = [...new Set(['127.0.0.1', 'localhost', ...hosts])].map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`));
  await writeFile(ext, [
    `subjectAltName=${sans.join(',')}`,
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    '',
  ].join('\n'));
  run(openssl, ['req', '-new', ...EC_KEY, '-keyout', key, '-out', csr, '-subj', '/CN=localhost']);
  run(openssl, [
    'x509', '-req', '-in', csr, '-CA', ca.caCert, '-CAkey', ca.caKey, '-days', '2',
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-extfile', ext, '-out', cert,
  ]);
  await Promise.all([rm(csr), rm(ext)]);
  return { cert, key };
}
