// A local port nothing listens on, for tests of an unreachable server.
import { createServer } from 'node:net';

/** A port nothing listens on (taken from the system, then released). */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
