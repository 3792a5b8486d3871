// The yardstick of bench:cost: a bare fastify HTTPS server with the emulator's own certificate
// and TLS settings, answering a sign-shaped JSON POST (a key id, the algorithm and a 256-byte
// value). What any HTTPS JSON service costs per request on this machine, with nothing of ours in
// it. Started as `tsx scripts/bench/bare-server.ts DATA_DIR HOST`; prints its URL.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';

const [dataDir, host = 'localhost'] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: bare-server.ts DATA_DIR [HOST]');
const tls = path.join(dataDir, 'tls');
const app = Fastify({
  https: { key: readFileSync(path.join(tls, 'server-key.pem')), cert: readFileSync(path.join(tls, 'server.pem')), minVersion: 'TLSv1.2', connectionsCheckingInterval: 1000 },
  requestTimeout: 30_000,
  connectionTimeout: 60_000,
  keepAliveTimeout: 60_000,
  logger: false,
  bodyLimit: 1024 * 1024,
});
const signature = randomBytes(256).toString('base64url');
app.post('/keys/:name/sign', async (request) => {
  const { name } = request.params as { name: string };
  const { alg } = request.body as { alg: string; value: string };
  return { kid: `https://${host}/keys/${name}/0123456789abcdef0123456789abcdef`, alg, value: signature };
});
await app.listen({ host, port: 0 });
console.log(`listening on https://${host}:${(app.server.address() as AddressInfo).port}`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
