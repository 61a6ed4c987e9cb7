import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactedUrl, withoutUrlSecrets } from '../../src/util/redact-url.js';

test('a URL is shown without user:password, query or fragment', () => {
  assert.equal(redactedUrl('https://bob:s3cr%40t@files.example/rel/v1/k3s?X-Amz-Signature=abc&t=1#frag'), 'https://files.example/rel/v1/k3s');
  assert.equal(redactedUrl(new URL('http://198.18.0.1:5000/v2/x/blobs/sha256:00?token=t')), 'http://198.18.0.1:5000/v2/x/blobs/sha256:00');
  assert.equal(redactedUrl('http://plain.example/a/b'), 'http://plain.example/a/b');
  assert.equal(redactedUrl('http://user:pw@[bad/tool?k=v'), 'http://[bad/tool', 'one that does not parse loses the same parts');
});

test('every URL in an instruction line loses its secrets, and the rest of the line stays', () => {
  assert.equal(
    withoutUrlSecrets('ADD --checksum=sha256:ab https://u:p@h.example/t?token=x /bin/ http://h2.example/y#z /opt/'),
    'ADD --checksum=sha256:ab https://h.example/t /bin/ http://h2.example/y /opt/',
  );
  assert.equal(withoutUrlSecrets('ADD ["https://u:p@h.example/tool?s=1", "/dst"]'), 'ADD ["https://h.example/tool", "/dst"]');
  assert.equal(withoutUrlSecrets('COPY conf/ /etc/conf/ # see http://docs.example/?q=1'), 'COPY conf/ /etc/conf/ # see http://docs.example/');
  assert.equal(withoutUrlSecrets('RUN echo user@host ?q'), 'RUN echo user@host ?q');
});
