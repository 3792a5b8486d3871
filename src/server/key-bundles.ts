// Domain key views as the service's KeyBundle, DeletedKeyBundle and KeyItem JSON.
import { ktyOfSpec } from '../hsm/jwk.js';
import type { KeyView } from '../hsm/key-service.js';

function recoveryLevel(days: number, purgeProtection: boolean): string {
  const base = days === 90 ? 'Recoverable' : 'CustomizedRecoverable';
  return purgeProtection ? base : `${base}+Purgeable`;
}

export function attributesOf({ key, version }: KeyView, purgeProtection: boolean): Record<string, unknown> {
  return {
    enabled: version.enabled,
    ...(version.notBefore === null ? {} : { nbf: version.notBefore }),
    ...(version.expires === null ? {} : { exp: version.expires }),
    created: version.created,
    updated: version.updated,
    recoveryLevel: recoveryLevel(key.recoverableDays, purgeProtection),
    recoverableDays: key.recoverableDays,
    exportable: version.exportable,
  };
}

/** A key without tags has no tags member, as the service answers. */
function tagsOf({ version }: KeyView): { tags?: Record<string, string> } {
  return Object.keys(version.tags).length > 0 ? { tags: version.tags } : {};
}

export function keyId(origin: string, name: string, version?: string): string {
  return version === undefined ? `${origin}/keys/${name}` : `${origin}/keys/${name}/${version}`;
}

export function keyBundle(view: KeyView, origin: string, purgeProtection: boolean): Record<string, unknown> {
  const { version } = view;
  const { kty: _kty, ...publicFields } = version.publicJwk ?? {};
  return {
    key: { kid: keyId(origin, version.name, version.version), kty: ktyOfSpec(version.spec), key_ops: version.keyOps, ...publicFields },
    attributes: attributesOf(view, purgeProtection),
    ...tagsOf(view),
    ...(version.releasePolicy === undefined ? {} : { release_policy: version.releasePolicy }),
  };
}

function deletedFields(view: KeyView, origin: string): Record<string, unknown> {
  return {
    recoveryId: `${origin}/deletedkeys/${view.key.name}`,
    deletedDate: view.key.deletedDate,
    scheduledPurgeDate: view.key.scheduledPurgeDate,
  };
}

export function deletedKeyBundle(view: KeyView, origin: string, purgeProtection: boolean): Record<string, unknown> {
  return { ...keyBundle(view, origin, purgeProtection), ...deletedFields(view, origin) };
}

export function keyItem(view: KeyView, origin: string, purgeProtection: boolean, withVersion: boolean): Record<string, unknown> {
  return {
    kid: keyId(origin, view.version.name, withVersion ? view.version.version : undefined),
    attributes: attributesOf(view, purgeProtection),
    ...tagsOf(view),
  };
}

export function deletedKeyItem(view: KeyView, origin: string, purgeProtection: boolean): Record<string, unknown> {
  return { ...keyItem(view, origin, purgeProtection, false), ...deletedFields(view, origin) };
}
