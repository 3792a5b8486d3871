// Service principals of the emulated tenant, managed from the CLI: each gets a client id, an
// object id and a client secret that is shown once and stored only as a hash.
import { randomBytes, randomUUID } from 'node:crypto';
import type { AccessStore, PrincipalRecord } from '../store/access-store.js';
import { INITIAL_ADMINISTRATOR } from './identity.js';
import { type NewManagedIdentity, addManagedIdentity } from './managed-identities.js';
import type { SecretHasher } from './secrets.js';

export interface NewPrincipal {
  displayName: string;
  clientId: string;
  objectId: string;
  clientSecret: string;
}

export class PrincipalError extends Error {
  override readonly name = 'PrincipalError';
}

const DISPLAY_NAME = /^[\w .@-]{1,120}$/u;

function checkNewName(store: AccessStore, displayName: string, flag: string): void {
  if (!DISPLAY_NAME.test(displayName)) {
    throw new PrincipalError(`${flag}: 1 to 120 letters, digits, spaces or . _ @ -`);
  }
  if (store.principals().some((p) => p.displayName.toLowerCase() === displayName.toLowerCase())) {
    throw new PrincipalError(`${flag}: a principal named '${displayName}' already exists`);
  }
}

/** A managed identity: a principal that gets tokens from the managed-identity endpoint, never with a secret. */
export function createManagedIdentity(store: AccessStore, displayName: string, now: number): NewManagedIdentity {
  checkNewName(store, displayName, '--managed-identity');
  return addManagedIdentity(store, displayName, now);
}

export function createPrincipal(store: AccessStore, hasher: SecretHasher, displayName: string, now: number): NewPrincipal {
  checkNewName(store, displayName, '--name');
  const principal: NewPrincipal = { displayName, clientId: randomUUID(), objectId: randomUUID(), clientSecret: randomBytes(24).toString('base64url') };
  store.addPrincipal({
    objectId: principal.objectId,
    clientId: principal.clientId,
    displayName,
    secretHash: hasher.hash(principal.clientSecret),
    created: now,
  });
  return principal;
}

/** The principal a CLI argument names: its display name, client id or object id. */
export function findPrincipal(store: AccessStore, reference: string): PrincipalRecord {
  const wanted = reference.toLowerCase();
  const found = store
    .principals()
    .find((p) => p.objectId.toLowerCase() === wanted || p.clientId.toLowerCase() === wanted || p.displayName.toLowerCase() === wanted);
  if (!found) throw new PrincipalError(`no principal has the name, client id or object id '${reference}'`);
  return found;
}

/**
 * Removes a principal: its tokens are refused from the next request on. Its role assignments stay,
 * as they do in Entra ID, and grant nothing. The initial administrator cannot be removed.
 */
export function deletePrincipal(store: AccessStore, reference: string, adminObjectId: string): PrincipalRecord {
  const principal = findPrincipal(store, reference);
  if (principal.objectId === adminObjectId || principal.displayName === INITIAL_ADMINISTRATOR) {
    throw new PrincipalError('the initial administrator (admin.json) cannot be deleted');
  }
  store.removePrincipal(principal.objectId);
  return principal;
}
