import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'ssh2';
import { removeDir, sealbuildOk, tempDir } from '../helpers/cli.js';
import { TestBed } from '../helpers/testbed.js';

/*
 * The test bed the installer's tests run on (scripts/testbed.sh): each host is reachable over
 * real SSH with the bed's key and root's password, presents the host key recorded in
 * known_hosts, keeps its writes to /etc, /var, /usr/local, /opt to itself, starts units with
 * the systemctl shim, and runs a container with the real containerd and runc.
 */

const bed = new TestBed('sbtbt', '198.18.7');
let ips: string[];
let work: string;

before(async () => {
  await bed.down();
  ips = await bed.up(2);
  work = await tempDir();
});

after(async () => {
  await bed.down();
  await removeDir(work);
});

/** Runs `command` over SSH on `host` and returns its stdout; the host key must be the recorded one. */
function ssh(host: string, auth: { privateKey?: Buffer; password?: string }, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client
      .on('ready', () => {
        client.exec(command, (err, stream) => {
          if (err) return reject(err);
          let out = '';
          stream.on('data', (d: Buffer) => (out += d.toString()));
          stream.stderr.resume();
          stream.on('close', () => {
            client.end();
            resolve(out);
          });
        });
      })
      .on('error', reject)
      .connect({
        host,
        username: 'root',
        ...auth,
        readyTimeout: 5000,
        hostVerifier: (key: Buffer) => knownKeys.get(host) === key.toString('base64'),
      });
  });
}
const knownKeys = new Map<string, string>();

test('up prints one address per host and records each host key', async () => {
  assert.deepEqual(ips, [1, 2].map((i) => bed.ip(i)));
  assert.match(bed.ip(2), /^198\.1[89]\.\d+\.2$/);
  for (const line of (await readFile(bed.knownHosts, 'utf8')).trim().split('\n')) {
    const [host, type, key] = line.split(' ');
    assert.equal(type, 'ssh-ed25519');
    knownKeys.set(host!, key!);
  }
  assert.equal(knownKeys.size, 2);
  assert.notEqual(knownKeys.get(ips[0]!), knownKeys.get(ips[1]!), 'every host has its own host key');
});

test('hosts answer real SSH with the key and with the password, under their own names', async () => {
  const privateKey = await readFile(bed.privateKey);
  assert.equal((await ssh(ips[0]!, { privateKey }, 'hostname')).trim(), `${bed.name}-1`);
  assert.equal((await ssh(ips[1]!, { password: bed.password }, 'hostname; id -u')).trim(), `${bed.name}-2\n0`);
  await assert.rejects(ssh(ips[1]!, { password: 'wrong' }, 'true'), /authentication/i);
  // Hosts reach each other over the bridge.
  assert.match(await ssh(ips[0]!, { privateKey }, `exec 3<>/dev/tcp/${ips[1]}/22 && head -c 7 <&3`), /^SSH-2.0/);
});

test('writes to /etc, /var, /usr/local, /opt stay on their host; /run/testbed-shared is shared', async () => {
  for (const dir of ['/etc', '/var/lib', '/usr/local', '/opt']) {
    const file = `${dir}/sbtbt-probe`;
    await bed.sh(1, `echo one > ${file}`);
    assert.equal(await bed.sh(1, `cat ${file}`), 'one\n');
    assert.equal((await bed.exec(2, ['test', '-e', file])).code, 1, `${file} is not on host 2`);
    assert.equal(existsSync(file), false, `${file} is not on this machine`);
  }
  await bed.sh(1, 'echo shared > /run/testbed-shared/probe');
  assert.equal(await bed.sh(2, 'cat /run/testbed-shared/probe'), 'shared\n', '/run/testbed-shared is the same on every host');
});

test('the systemctl shim starts and stops a unit by its ExecStart', async () => {
  await bed.sh(
    1,
    `cat > /etc/systemd/system/probe.service <<'UNIT'
[Service]
Environment="GREETING=hello there"
ExecStartPre=-/bin/false
ExecStart=/bin/sh -c 'echo "$GREETING" > /run/probe.out; exec sleep 1000'
UNIT`,
  );
  await bed.sh(1, 'systemctl daemon-reload && systemctl enable --now probe.service');
  assert.equal(await bed.sh(1, 'systemctl is-active probe'), 'active\n');
  assert.equal(await bed.sh(1, 'cat /run/probe.out'), 'hello there\n');
  await bed.sh(1, 'systemctl disable --now probe.service');
  assert.equal((await bed.exec(1, ['systemctl', 'is-active', 'probe'])).code, 3);
});

test('the real containerd and runc run a container inside a host', async () => {
  // An image of sleep and the libraries it needs, built and saved by sealbuild.
  const ctx = join(work, 'sleep');
  await mkdir(join(ctx, 'rootfs/bin'), { recursive: true });
  await mkdir(join(ctx, 'rootfs/lib64'), { recursive: true });
  await mkdir(join(ctx, 'rootfs/lib/x86_64-linux-gnu'), { recursive: true });
  await copyFile('/bin/sleep', join(ctx, 'rootfs/bin/sleep'));
  await copyFile('/lib64/ld-linux-x86-64.so.2', join(ctx, 'rootfs/lib64/ld-linux-x86-64.so.2'));
  await copyFile('/lib/x86_64-linux-gnu/libc.so.6', join(ctx, 'rootfs/lib/x86_64-linux-gnu/libc.so.6'));
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY rootfs/ /\n');
  const root = join(work, 'store');
  await sealbuildOk(root, ['build', '-t', 'testbed/sleep:1', '--platform', 'linux/amd64', ctx]);
  await sealbuildOk(root, ['save', 'testbed/sleep:1', '--format', 'docker-archive', '-o', join(work, 'sleep.tar')]);

  // containerd's root on the host's tmpfs /run: overlayfs snapshots cannot live on an overlay.
  const ctr = 'ctr -a /run/containerd/containerd.sock';
  await bed.sh(
    2,
    'mkdir -p /run/containerd && (setsid containerd --root /run/containerd/root --state /run/containerd/state ' +
      '--address /run/containerd/containerd.sock > /run/containerd.log 2>&1 < /dev/null &) && ' +
      'for i in $(seq 100); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.1; done',
  );
  const imported = await bed.exec(2, ['sh', '-c', `${ctr} images import -`], await readFile(join(work, 'sleep.tar')));
  assert.equal(imported.code, 0, imported.stderr);
  await bed.sh(2, `${ctr} run -d docker.io/testbed/sleep:1 probe /bin/sleep 1000`);
  assert.match(await bed.sh(2, `${ctr} tasks ls`), /probe\s+\d+\s+RUNNING/);
});

test('down removes every namespace, link and state file it made', async () => {
  await bed.down();
  const netns = await new Promise<string>((resolve) => {
    const child = spawn('ip', ['netns', 'list'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => resolve(out));
  });
  assert.doesNotMatch(netns, new RegExp(`${bed.name}-`));
  assert.equal(existsSync(`/sys/class/net/${bed.name}-br`), false);
  assert.equal(existsSync(bed.stateDir), false);
});
