import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendWithReusedBuffers } from './reused-buffers';

describe('sendWithReusedBuffers', () => {
  let server: Server;
  let failAfterFirstChunk = true;
  let outcome: Promise<unknown> = Promise.resolve();

  beforeAll(async () => {
    server = createServer((_request, response) => {
      response.writeHead(200, { 'content-length': '100' });
      let fills = 0;
      outcome = sendWithReusedBuffers(response, 16, (buffer) => {
        fills += 1;
        if (fills === 1) {
          return Promise.resolve(buffer.fill(7).subarray(0, 10));
        }
        return failAfterFirstChunk
          ? Promise.reject(new Error('the body failed'))
          : Promise.resolve(null);
      }).then(
        (sent) => (sent === 100 ? response.end() : response.destroy()),
        () => response.destroy(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(() => new Promise((resolve) => server.close(resolve)));

  /** The status the client saw and the body bytes it got before the transfer ended or broke. */
  function fetchOnce(): Promise<{ status: number; bytes: number; broken: boolean }> {
    const { port } = server.address() as AddressInfo;
    return new Promise((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/', agent: false }, (response: IncomingMessage) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, bytes, broken: false }),
        );
        response.on('error', () =>
          resolve({ status: response.statusCode ?? 0, bytes, broken: true }),
        );
      }).on('error', reject);
    });
  }

  it('lets the headers and the bytes already written reach the client before a failed body breaks the transfer', async () => {
    failAfterFirstChunk = true;
    // Without waiting for its writes, the failure (all in microtasks) destroyed the corked
    // socket with the headers in it: the client saw a reset and no status.
    await expect(fetchOnce()).resolves.toEqual({ status: 200, bytes: 10, broken: true });
    await outcome;
  });

  it('breaks a transfer that ends short of its Content-Length', async () => {
    failAfterFirstChunk = false;
    await expect(fetchOnce()).resolves.toEqual({ status: 200, bytes: 10, broken: true });
    await outcome;
  });
});
