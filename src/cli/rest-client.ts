// The operator commands' client: the REST API of the emulator running on a data directory, over
// TLS with the emulator's CA, as the initial administrator (admin.json) or another principal.
import { existsSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { runningServer } from '../server/data-dir-lock.js';
import { ConfigError } from './config.js';

export const API_VERSION = '7.6';
/** RSA-4096 generation on a busy token takes seconds; a minute means something is wrong. */
const REQUEST_TIMEOUT_MS = 60_000;

export interface ClientFlags {
  url?: string | undefined;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
}

/** A failure the service reported: its code and message, for the user. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

interface Response {
  status: number;
  body: unknown;
}

export class RestClient {
  #token: string | undefined;

  private constructor(
    readonly url: string,
    private readonly ca: string,
    private readonly credentials: { tenantId: string; clientId: string; clientSecret: string },
  ) {}

  static open(dataDir: string, flags: ClientFlags): RestClient {
    const adminFile = path.join(dataDir, 'admin.json');
    const caFile = path.join(dataDir, 'ca.pem');
    if (!existsSync(adminFile) || !existsSync(caFile)) throw new ConfigError(`${dataDir} holds no emulator: start one with mhsm start --data-dir ${dataDir}`);
    const admin = JSON.parse(readFileSync(adminFile, 'utf8')) as { tenantId: string; clientId: string; clientSecret: string };
    const url = flags.url ?? runningServer(dataDir)?.url;
    if (!url) throw new ConfigError(`no emulator is running on ${dataDir}; start one, or give --url`);
    const clientId = flags.clientId ?? process.env.MHSM_CLIENT_ID;
    const clientSecret = flags.clientSecret ?? process.env.MHSM_CLIENT_SECRET;
    if ((clientId === undefined) !== (clientSecret === undefined)) {
      throw new ConfigError('--client-id and --client-secret (MHSM_CLIENT_ID, MHSM_CLIENT_SECRET) go together');
    }
    const credentials = clientId ? { tenantId: admin.tenantId, clientId, clientSecret: clientSecret as string } : admin;
    return new RestClient(url.replace(/\/+$/, ''), readFileSync(caFile, 'utf8'), credentials);
  }

  #send(method: string, route: string, body: string | undefined, headers: Record<string, string>): Promise<Response> {
    return new Promise((resolve, reject) => {
      const target = new URL(route, this.url);
      const request = httpsRequest(target, { method, ca: this.ca, headers: { ...headers, ...(body ? { 'content-length': Buffer.byteLength(body) } : {}) } }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            parsed = text;
          }
          resolve({ status: response.statusCode ?? 0, body: parsed });
        });
      });
      request.setTimeout(REQUEST_TIMEOUT_MS, () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      request.on('error', (error) => reject(new ConfigError(`cannot reach the emulator at ${this.url}: ${error.message}`)));
      request.end(body);
    });
  }

  async #bearer(): Promise<string> {
    if (this.#token) return this.#token;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.credentials.clientId,
      client_secret: this.credentials.clientSecret,
      scope: 'https://managedhsm.azure.net/.default',
    });
    const response = await this.#send('POST', `/${this.credentials.tenantId}/oauth2/v2.0/token`, form.toString(), { 'content-type': 'application/x-www-form-urlencoded' });
    const body = response.body as { access_token?: string; error?: string; error_description?: string } | undefined;
    if (response.status !== 200 || typeof body?.access_token !== 'string') throw new ServiceError(response.status, body?.error ?? 'invalid_client', body?.error_description ?? `the token endpoint of ${this.url} gave no token`);
    this.#token = body.access_token;
    return this.#token;
  }

  /** A call of the data-plane API; a 4xx or 5xx becomes a ServiceError with the service's code and message. */
  async call<T>(method: string, route: string, body?: unknown): Promise<T> {
    const separator = route.includes('?') ? '&' : '?';
    const response = await this.#send(method, `${route}${separator}api-version=${API_VERSION}`, body === undefined ? undefined : JSON.stringify(body), {
      authorization: `Bearer ${await this.#bearer()}`,
      'content-type': 'application/json',
    });
    if (response.status >= 400) {
      const error = (response.body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ServiceError(response.status, error?.code ?? `HTTP ${response.status}`, error?.message ?? 'the request failed');
    }
    // Every answer the commands read is a JSON object; a purge's 204 has no body.
    if (response.status !== 204 && (typeof response.body !== 'object' || response.body === null)) {
      throw new ServiceError(response.status, 'UnexpectedAnswer', `${method} ${route} answered ${response.status} without a JSON object; is ${this.url} the emulator?`);
    }
    return response.body as T;
  }
}

/** Every item of a paged list, following nextLink ($skiptoken) to the end. */
export async function listAll<T>(client: RestClient, route: string): Promise<T[]> {
  const items: T[] = [];
  let next: string | undefined = route;
  while (next !== undefined) {
    const page: { value: T[]; nextLink?: string | null } = await client.call('GET', next);
    items.push(...page.value);
    const token: string | null | undefined = page.nextLink ? new URL(page.nextLink).searchParams.get('$skiptoken') : undefined;
    next = token ? `${route}${route.includes('?') ? '&' : '?'}$skiptoken=${encodeURIComponent(token)}` : undefined;
  }
  return items;
}
