// The attackers of the resource-exhaustion campaign, in a process of their own so that their
// work does not delay the well-behaved client's event loop (they still share the machine's
// cores with it and with the server). Input (env): URL, TENANT, ADMIN_CLIENT_ID, NOISY_TOKEN,
// CA_FILE, SECONDS. Output: one JSON line {requests} on stdout when the time is up.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env('URL');
const tenant = env('TENANT');
const adminClientId = env('ADMIN_CLIENT_ID');
const noisyToken = env('NOISY_TOKEN');
const deadline = Date.now() + Number(env('SECONDS')) * 1000;
const pool = new Pool(url, { connections: 64, connect: { ca: readFileSync(env('CA_FILE')) } });
const API = 'api-version=7.6';

let requests = 0;
async function send(method: string, path: string, body: string | Buffer | undefined, headers: Record<string, string>): Promise<void> {
  try {
    const response = await pool.request({ method: method as 'GET', path, body, headers });
    await response.body.dump();
  } catch {
    // refused, reset or timed out: what an attacker gets
  }
  requests++;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const tokenPath = `/${tenant}/oauth2/v2.0/token`;
const form = (clientId: string, secret: string) =>
  new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope: 'https://managedhsm.azure.net/.default' }).toString();
// One 1 MiB body, its client id made distinct by a new GUID at the front each time.
const huge = Buffer.from(form(`${randomUUID()}${'x'.repeat(1024 * 1024)}`, 'x'));
const idAt = huge.indexOf('client_id=') + 'client_id='.length;
const longName = 'n'.repeat(1000);

async function lanes(count: number, once: () => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async () => {
      while (Date.now() < deadline) await once();
    }),
  );
}

await Promise.all([
  // Distinct 1 MiB client ids.
  lanes(2, () => {
    const body = Buffer.from(huge);
    body.write(randomUUID(), idAt, 'latin1');
    return send('POST', tokenPath, body, FORM);
  }),
  // Client ids that are no GUID, and unknown GUIDs.
  lanes(4, () => send('POST', tokenPath, form(`${randomUUID()}-${'y'.repeat(200)}`, 'x'), FORM)),
  // Wrong secrets for the administrator's client id and for unknown ones.
  lanes(8, () => send('POST', tokenPath, form(Math.random() < 0.5 ? adminClientId : randomUUID(), `wrong-${randomUUID()}`), FORM)),
  // Unauthenticated requests with long key names.
  lanes(8, () => send('GET', `/keys/${longName}?${API}`, undefined, {})),
  // One principal keeping eight RSA-4096 generations queued.
  lanes(8, () =>
    send('POST', `/keys/noisy-${randomUUID().slice(0, 8)}/create?${API}`, JSON.stringify({ kty: 'RSA-HSM', key_size: 4096 }), {
      authorization: `Bearer ${noisyToken}`,
      'content-type': 'application/json',
    }),
  ),
]);
await pool.close();
process.stdout.write(`${JSON.stringify({ requests })}\n`);
