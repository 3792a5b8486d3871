// A bearer token for the data directory's initial administrator, by client credentials from the
// emulated tenant, as the benchmarks' clients use.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from 'undici';

export async function adminBearer(pool: Pool, dataDir: string): Promise<string> {
  const admin = JSON.parse(readFileSync(path.join(dataDir, 'admin.json'), 'utf8')) as { tenantId: string; clientId: string; clientSecret: string };
  const response = await pool.request({
    method: 'POST',
    path: `/${admin.tenantId}/oauth2/v2.0/token`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: admin.clientId, client_secret: admin.clientSecret, scope: 'https://managedhsm.azure.net/.default' }).toString(),
  });
  return ((await response.body.json()) as { access_token: string }).access_token;
}
