import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/**
 * OpenSSH known_hosts (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): `patterns keytype base64key`,
 * patterns comma separated, `[host]:port` for another port than 22, `|1|salt|hmac` for hashed
 * names. Marker lines (@cert-authority, @revoked) are not used for plain host keys and are skipped.
 */
export class KnownHosts {
  private constructor(private readonly entries: { patterns: string[]; key: string }[]) {}

  static async load(file: string): Promise<KnownHosts> {
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    const entries = [];
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith('@')) continue;
      const [patterns, , key] = line.split(/\s+/);
      if (patterns && key) entries.push({ patterns: patterns.split(','), key });
    }
    return new KnownHosts(entries);
  }

  /** 'match', 'mismatch' (the host is known with other keys) or 'unknown'. */
  check(host: string, port: number, key: Buffer): 'match' | 'mismatch' | 'unknown' {
    const name = port === 22 ? host : `[${host}]:${port}`;
    const wanted = key.toString('base64');
    let known = false;
    for (const entry of this.entries) {
      if (!entry.patterns.some((p) => matches(p, name))) continue;
      if (entry.key === wanted) return 'match';
      known = true;
    }
    return known ? 'mismatch' : 'unknown';
  }
}

function matches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  if (pattern.startsWith('!')) return false;
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`);
  return re.test(name);
}
