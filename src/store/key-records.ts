// What the store keeps about keys: names, versions, attributes, tags, policies and deleted state.
// Never key material: a version names its token objects by CKA_ID.
import type { KeySpec } from '../token/key-spec.js';

export interface KeyVersionRecord {
  name: string;
  version: string;
  /** CKA_ID of the version's objects in the token. */
  tokenId: Buffer;
  spec: KeySpec;
  /** The public JWK fields (kty, n, e or crv, x, y) of a key pair, kept so reads need no token call. */
  publicJwk: Record<string, string> | null;
  keyOps: string[];
  enabled: boolean;
  notBefore: number | null;
  expires: number | null;
  exportable: boolean;
  /** The release policy as the service stores it ({contentType, immutable, data}), if any. */
  releasePolicy: unknown;
  tags: Record<string, string>;
  created: number;
  updated: number;
}

export interface KeyRecord {
  /** The name as first created; lookups ignore case. */
  name: string;
  recoverableDays: number;
  rotationPolicy: unknown;
  /** Set while the key is soft-deleted. */
  deletedDate: number | null;
  scheduledPurgeDate: number | null;
}

export interface Page<T> {
  items: T[];
  /** Where the next page starts, or undefined on the last page. */
  next: string | undefined;
}
