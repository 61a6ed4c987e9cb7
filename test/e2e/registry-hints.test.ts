import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { issueServerCert, makeTestCA } from '../helpers/certs.js';
import { removeDir, sealbuild, tempDir, tool } from '../helpers/cli.js';
import { freePort } from '../helpers/registry.js';

// Registry failures name their real cause in one line (#21): no DNS or no route when the
// machine is offline, a registry that wants a client certificate (mutual TLS).

let work: string;
let root: string;

before(async () => {
  work = await tempDir('sealbuild-registry-hints-');
  root = join(work, 'root');
});
after(async () => removeDir(work));

test('offline: no DNS server and no route are said as such, with what works offline', async () => {
  const dns = await sealbuild(root, ['pull', 'registry.example.com/team/app:v1'], { offline: true });
  assert.equal(dns.code, 1, dns.stderr);
  assert.match(dns.stderr, /^Error: pulling registry\.example\.com\/team\/app:v1: cannot resolve registry host registry\.example\.com: no DNS server answered \(EAI_AGAIN\); this machine looks offline \(hint: connect it to the network, or build from what needs none: .*oci-archive:PATH.*\)$/m);
  // 198.18.0.0/15 is the test network range; inside `unshare -n` nothing routes there.
  const route = await sealbuild(root, ['pull', '198.18.200.1/team/app:v1'], { offline: true });
  assert.equal(route.code, 1, route.stderr);
  assert.match(route.stderr, /^Error: pulling 198\.18\.200\.1\/team\/app:v1: cannot reach registry 198\.18\.200\.1: no network route to it \(ENETUNREACH\); this machine looks offline \(hint: connect it/m);
});

test('mutual TLS: a registry that wants a client certificate says so; one that refuses ours says that', async () => {
  await mkdir(join(work, 'ca'));
  await mkdir(join(work, 'other-ca'));
  const ca = await makeTestCA(join(work, 'ca'));
  const server = await issueServerCert(ca, join(work, 'ca'), []);
  // OpenSSL's server, verifying client certificates against the CA as a registry's TLS does:
  // no certificate gets TLS 1.3's certificate_required alert, a stranger's unknown_ca.
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const openssl = spawn(tool('openssl', 'openssl'), ['s_server', '-accept', host, '-cert', server.cert, '-key', server.key, '-CAfile', ca.caCert, '-Verify', '1', '-verify_return_error', '-www', '-quiet'], { stdio: 'ignore' });
  try {
    await listening(port);
    // The CA alone: trusted server, no client certificate.
    const trustOnly = join(work, 'trust-only');
    await mkdir(trustOnly);
    await copyFile(ca.caCert, join(trustOnly, 'ca.crt'));
    const none = await sealbuild(root, ['--cert-dir', trustOnly, 'pull', `${host}/team/app:v1`]);
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, new RegExp(`^Error: pulling ${host}/team/app:v1: registry ${host} wants a client certificate \\(mutual TLS\\) and none is set up for it \\(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\\) \\(hint: put a HOST\\.cert and HOST\\.key pair in /etc/containers/certs\\.d/${host}/ or in --cert-dir DIR\\)$`, 'm'));
    // A client certificate from a CA the registry does not trust.
    const other = await makeTestCA(join(work, 'other-ca'));
    const stranger = await issueServerCert(other, join(work, 'other-ca'), []);
    const withCert = join(work, 'with-cert');
    await mkdir(withCert);
    await copyFile(ca.caCert, join(withCert, 'ca.crt'));
    await copyFile(stranger.cert, join(withCert, 'client.cert'));
    await copyFile(stranger.key, join(withCert, 'client.key'));
    const refused = await sealbuild(root, ['--cert-dir', withCert, 'pull', `${host}/team/app:v1`]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(`^Error: pulling ${host}/team/app:v1: registry ${host} refused our client certificate \\(ERR_SSL_TLSV1_ALERT_UNKNOWN_CA\\) \\(hint: check that the certificate .* is signed by a CA the registry trusts and has not expired\\)$`, 'm'));
  } finally {
    openssl.kill();
  }
});

/** Resolves once something accepts connections on the loopback `port` (within 10 s). */
async function listening(port: number): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => resolve(true)).on('error', () => resolve(false));
      socket.on('connect', () => socket.destroy());
    });
    if (up) return;
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}
