import { UserError } from './errors.js';

/**
 * A key's password: COSIGN_PASSWORD when set (cosign's variable, so scripts work with both
 * tools; it may be empty, as cosign allows), else typed on the terminal without echo. Never
 * printed, never logged.
 */
export async function keyPassword(purpose: string, confirm: boolean): Promise<string> {
  const fromEnv = process.env.COSIGN_PASSWORD;
  if (fromEnv !== undefined) return fromEnv;
  if (!process.stdin.isTTY) throw new UserError(`${purpose} needs a password and there is no terminal to ask on`, { hint: 'set COSIGN_PASSWORD' });
  const first = await readHidden(`Password for ${purpose}: `);
  if (confirm && (await readHidden('Again: ')) !== first) throw new UserError('the passwords differ', { hint: 'type the same password twice' });
  return first;
}

/** One line from the terminal with echo off (raw mode); Ctrl-C aborts. */
function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish();
        if (char === '\u0003') return finish(new UserError('interrupted', { hint: 'type the password, or set COSIGN_PASSWORD' }));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}
