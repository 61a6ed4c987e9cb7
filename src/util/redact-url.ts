/*
 * URLs as they may be shown or kept: without user:password, query or fragment. A query can
 * carry a token or a signature (a presigned download, a registry's blob redirect), and
 * credentials reach neither a log nor an image.
 */

/** The URL without user:password, query or fragment; a string that does not parse loses anything before an `@`. */
export function redactedUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return withoutUrlSecrets(url as string);
  }
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

/** Free text (an instruction line) with each http(s) URL in it redacted like redactedUrl does. */
export function withoutUrlSecrets(text: string): string {
  return text.replace(/\b(https?:\/\/)(?:[^\s"'/@]*@)?([^\s"'?#]*)(?:[?#][^\s"']*)?/gi, '$1$2');
}
