import * as http from 'node:http';
import * as net from 'node:net';
import { discard, httpRequest } from '../src/http-request';

/**
 * A server that closes a kept-alive connection just as the next request arrives on it (what an
 * idle timeout does under load), simulated deterministically: it answers the first request of a
 * connection and resets the connection on the second. Fresh connections always get an answer
 * unless `resetFresh` is set.
 */
class ClosingServer {
  connections = 0;
  resetFresh = false;
  private readonly server = net.createServer((socket) => this.accept(socket));
  private readonly sockets = new Set<net.Socket>();

  get url(): URL {
    return new URL(`http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}/file`);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.sockets.forEach((socket) => socket.destroy());
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.connections += 1;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    let requests = 0;
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      while (buffered.includes('\r\n\r\n')) {
        const head = buffered.startsWith('HEAD ');
        buffered = buffered.slice(buffered.indexOf('\r\n\r\n') + 4);
        requests += 1;
        if (requests > 1 || this.resetFresh) {
          socket.resetAndDestroy();
          return;
        }
        socket.write(
          'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n' +
            (head ? '' : 'ok'),
        );
      }
    });
  }
}

describe('httpRequest on a kept-alive connection the server closes', () => {
  const server = new ClosingServer();
  let agent: http.Agent;
  const get = (method = 'GET') =>
    httpRequest(server.url, {
      method,
      headers: {},
      agent,
      headersTimeoutMs: 5_000,
      idleTimeoutMs: 5_000,
    });

  beforeAll(() => server.start());
  afterAll(() => server.stop());
  beforeEach(() => {
    agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    server.connections = 0;
    server.resetFresh = false;
  });
  afterEach(() => agent.destroy());

  it('sends a GET again on a new connection and gets the answer', async () => {
    await discard((await get()).body);
    const second = await get();
    expect(second.status).toBe(200);
    await discard(second.body);
    expect(server.connections).toBe(2);
  });

  it('does the same for a HEAD', async () => {
    await discard((await get('HEAD')).body);
    expect((await get('HEAD')).status).toBe(200);
    expect(server.connections).toBe(2);
  });

  it('does not send again when a new connection is reset: that server is failing', async () => {
    server.resetFresh = true;
    await expect(get()).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(server.connections).toBe(1);
  });
});
