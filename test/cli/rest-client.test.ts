// The operator commands' client against a server that does not answer as the emulator does: a
// fake HTTPS server, the one way to produce such answers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RestClient, ServiceError } from '../../src/cli/rest-client.js';
import { ensureTls } from '../../src/server/tls.js';

let dir: string;
let server: Server;
let url: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-rest-client-'));
  const tls = await ensureTls(dir, ['localhost']);
  server = createServer({ key: tls.key, cert: tls.cert }, (request, response) => {
    if (request.url?.includes('/oauth2/v2.0/token')) {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'token', expires_in: 3600 }));
    } else if (request.url?.startsWith('/html')) {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<html>a proxy page</html>');
    } else {
      response.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
  url = `https://localhost:${(server.address() as AddressInfo).port}`;
  writeFileSync(path.join(dir, 'admin.json'), JSON.stringify({ tenantId: 't', clientId: 'c', clientSecret: 's', objectId: 'o' }));
});

afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('refuses a 2xx that is not a JSON object, and reports a non-JSON error status plainly', async () => {
  const client = RestClient.open(dir, { url });
  const html = client.call('GET', '/html');
  await expect(html).rejects.toBeInstanceOf(ServiceError);
  await expect(html).rejects.toThrow(/^UnexpectedAnswer: GET \/html answered 200 without a JSON object; is https:\/\/localhost:\d+ the emulator\?/);
  await expect(client.call('GET', '/other')).rejects.toThrow(/^HTTP 502: the request failed/);
});

it('says plainly when nothing listens, and when no emulator runs on the data directory', async () => {
  await expect(RestClient.open(dir, { url: 'https://localhost:1' }).call('GET', '/keys')).rejects.toThrow(/^cannot reach the emulator at https:\/\/localhost:1: /);
  expect(() => RestClient.open(dir, {})).toThrow(/no emulator is running on .*; start one, or give --url/);
});
