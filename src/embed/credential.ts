// A TokenCredential (the shape @azure/core-auth defines, which every official client takes) for a
// principal of the emulator's tenant: client credentials against the emulator's token endpoint,
// over HTTPS that trusts the emulator's CA only, kept until a minute before it expires.
import { request } from 'node:https';

export interface AccessToken {
  token: string;
  expiresOnTimestamp: number;
}

export interface TokenCredential {
  getToken(scopes: string | string[]): Promise<AccessToken | null>;
}

export interface ClientCredentials {
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

export class EmulatorCredential implements TokenCredential {
  readonly #cached = new Map<string, AccessToken>();

  constructor(
    private readonly url: string,
    private readonly principal: ClientCredentials,
    private readonly ca: string,
  ) {}

  async getToken(scopes: string | string[]): Promise<AccessToken> {
    const scope = [scopes].flat().find((s) => s.endsWith('/.default')) ?? `${[scopes].flat()[0]}/.default`;
    const cached = this.#cached.get(scope);
    if (cached && cached.expiresOnTimestamp - 60_000 > Date.now()) return cached;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.principal.clientId, client_secret: this.principal.clientSecret, scope });
    const answer = await post(`${this.url}/${this.principal.tenantId}/oauth2/v2.0/token`, form.toString(), this.ca);
    if (answer.status !== 200) throw new Error(`the emulator refused a token: ${answer.status} ${answer.body.error_description ?? ''}`);
    const token = { token: answer.body.access_token as string, expiresOnTimestamp: Date.now() + (answer.body.expires_in as number) * 1000 };
    this.#cached.set(scope, token);
    return token;
  }
}

function post(url: string, body: string, ca: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', ca, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
