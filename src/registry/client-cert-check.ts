import { connect, type ConnectionOptions } from 'node:tls';
import { isIP } from 'node:net';

/**
 * Why a registry that wants mutual TLS hung up. Under TLS 1.3 the server judges the client's
 * certificate after the client has finished its handshake, so undici sees only "other side
 * closed"; the server's alert (RFC 8446 §4.4.2.4: certificate_required, or bad_certificate,
 * unknown_ca, …) reaches a socket that reads on. This connects once more, sends a request and
 * reads: the alert's OpenSSL code when the server sent one, undefined when it answered or
 * closed without one.
 */
export function tlsAlertOf(host: string, options: ConnectionOptions, timeoutMs: number): Promise<string | undefined> {
  const [hostname, port] = /^\[?(.*?)\]?(?::(\d+))?$/.exec(host)!.slice(1) as [string, string | undefined];
  return new Promise((resolve) => {
    const socket = connect({ ...options, host: hostname, port: Number(port ?? 443), ...(isIP(hostname) ? {} : { servername: hostname }), rejectUnauthorized: false });
    const done = (alert: string | undefined) => {
      socket.destroy();
      resolve(alert);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.on('secureConnect', () => socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    socket.on('data', () => done(undefined));
    socket.on('error', (err: NodeJS.ErrnoException) => done(/ALERT/.test(err.code ?? '') ? err.code : undefined));
    socket.on('close', () => done(undefined));
  });
}

/** The alerts a server sends when it refuses the client's certificate, or gets none it needs. */
export const CLIENT_CERT_ALERT = /CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|HANDSHAKE_FAILURE|ACCESS_DENIED/;
