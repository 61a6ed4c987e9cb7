/*
 * hosts/host.ts `run`: every way a command on a host fails is one user line naming the host and
 * the phase (a timeout surfaced as "no result after 60 s" with the bug hint before).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostError, run, type ExecResult, type Host } from '../../src/hosts/host.js';

function host(exec: () => Promise<ExecResult>): Host {
  return { address: '198.18.0.9', exec, close: async () => {} };
}

test('a non-zero exit names host, phase and the last line of output', async () => {
  await assert.rejects(run(host(async () => ({ code: 3, stdout: '', stderr: 'first\nno space left\n' })), 'deliver', 'true'), {
    name: 'HostError',
    message: '198.18.0.9: deliver: exited 3: no space left',
  });
});

test('a timeout or a lost connection is a HostError too, with a hint; a HostError passes as it is', async () => {
  const timedOut = await run(host(() => Promise.reject(new Error('no result after 60 s'))), 'connect', 'uname -m').catch((e: unknown) => e);
  assert.ok(timedOut instanceof HostError);
  assert.equal(timedOut.message, '198.18.0.9: connect: no result after 60 s');
  assert.match(timedOut.hint ?? '', /reachable/);
  const own = new HostError('198.18.0.9', 'connect', 'login as root failed');
  assert.equal(await run(host(() => Promise.reject(own)), 'connect', 'uname -m').catch((e: unknown) => e), own);
});
