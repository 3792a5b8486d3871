// Managed identities of the emulated tenant, served as App Service serves them: an application
// with IDENTITY_ENDPOINT and IDENTITY_HEADER in its environment asks
// GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=R[&client_id=C] with the header
// X-IDENTITY-HEADER, and gets a token for its identity; @azure/identity's ManagedIdentityCredential
// and DefaultAzureCredential, and Python's azure-identity, do exactly that. An identity is a
// principal without a secret (its stored hash is one no secret matches), registered with
// `mhsm principal create --managed-identity NAME`; the first one registered answers when the
// request names none (the system-assigned identity).
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AccessStore, PrincipalRecord } from '../store/access-store.js';

/** What a managed identity stores in place of a secret hash: no secret matches it. */
export const MANAGED_IDENTITY_HASH = 'managed-identity';
/** The header App Service's token endpoint wants, holding IDENTITY_HEADER. */
export const IDENTITY_HEADER_NAME = 'x-identity-header';
/** Where the emulator serves the managed-identity token endpoint. */
export const MANAGED_IDENTITY_PATH = '/msi/token';

export function isManagedIdentity(principal: PrincipalRecord): boolean {
  return principal.secretHash === MANAGED_IDENTITY_HASH;
}

export interface NewManagedIdentity {
  displayName: string;
  clientId: string;
  objectId: string;
}

/** Marker naming the system-assigned identity: the first managed identity registered. */
const SYSTEM_ASSIGNED = 'system-assigned-identity';

export function addManagedIdentity(store: AccessStore, displayName: string, now: number): NewManagedIdentity {
  const identity = { displayName, clientId: randomUUID(), objectId: randomUUID() };
  const first = !store.principals().some(isManagedIdentity);
  store.atomically(() => {
    store.addPrincipal({ ...identity, secretHash: MANAGED_IDENTITY_HASH, created: now });
    if (first) store.setMarker(SYSTEM_ASSIGNED, identity.objectId);
  });
  return identity;
}

/** DATA/identity/managed-identity-header (0600): where the IDENTITY_HEADER value is kept. */
export function identityHeaderFile(dataDir: string): string {
  return path.resolve(dataDir, 'identity', 'managed-identity-header');
}

/** The IDENTITY_HEADER value applications send, made on first use. */
export function identityHeaderOf(dataDir: string): string {
  const file = identityHeaderFile(dataDir);
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  return readFileSync(file, 'utf8').trim();
}

export function headerMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const [a, b] = [Buffer.from(expected), Buffer.from(given)];
  return a.length === b.length && timingSafeEqual(a, b);
}

export class ManagedIdentityError extends Error {
  constructor(
    readonly status: 400 | 401 | 404,
    message: string,
  ) {
    super(message);
  }
}

/** The identity a token request names (client_id, object_id or principal_id), or the system-assigned one. */
export function pickManagedIdentity(store: AccessStore, query: Record<string, string | undefined>): PrincipalRecord {
  const identities = store.principals().filter(isManagedIdentity);
  if (query.mi_res_id !== undefined) throw new ManagedIdentityError(400, 'mi_res_id: name the identity by client_id or object_id; the emulator has no Azure resource ids');
  const byClient = query.client_id?.toLowerCase();
  const byObject = (query.object_id ?? query.principal_id)?.toLowerCase();
  if (byClient !== undefined || byObject !== undefined) {
    const found = identities.find((p) => p.clientId.toLowerCase() === byClient || p.objectId.toLowerCase() === byObject);
    if (!found) throw new ManagedIdentityError(404, `no managed identity of this tenant has ${byClient !== undefined ? `client id ${byClient}` : `object id ${byObject}`}`);
    return found;
  }
  // The first one registered; if it was deleted, the oldest left (principals come oldest first).
  const marked = store.marker(SYSTEM_ASSIGNED);
  const system = identities.find((p) => p.objectId === marked) ?? identities[0];
  if (!system) throw new ManagedIdentityError(404, 'no managed identity is registered: mhsm principal create --managed-identity NAME');
  return system;
}
