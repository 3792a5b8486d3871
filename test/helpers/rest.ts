// Raw HTTPS against a running emulator: tokens from its tenant, JSON requests with a bearer.
import { expect } from 'vitest';

export const API = 'api-version=7.6';

export interface Credentials {
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

export async function accessToken(url: string, credentials: Credentials): Promise<string> {
  const response = await fetch(`${url}/${credentials.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: credentials.clientId,
      client_secret: credentials.clientSecret,
      scope: 'https://managedhsm.azure.net/.default',
    }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

export interface JsonResponse {
  status: number;
  body: any;
}

export async function callJson(url: string, bearer: string, method: string, route: string, body?: unknown): Promise<JsonResponse> {
  const separator = route.includes('?') ? '&' : '?';
  const response = await fetch(`${url}${route}${separator}${API}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}
