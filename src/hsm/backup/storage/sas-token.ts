// A SAS token as a backup or restore request carries it: checked before any job starts, so that a
// malformed or expired SAS, or one that cannot allow the job, is the synchronous 400 the service
// gives. Whether the signature is right only the storage account can tell (a Failed job).
//
// Messages name the field (`token`) and the rule; they may show `sp` and `se` (not secrets), never
// `sig` or the token itself.
import { type BackupAccess, StorageError } from './backup-storage.js';

export interface SasToken {
  /** The query string to append to URLs, without the leading `?`. */
  readonly query: string;
  /** The `sp` letters. */
  readonly permissions: string;
  readonly expiresOn: Date;
}

/** A percent-encoded query value or name: the characters RFC 3986 allows in a query, nothing else. */
const QUERY_PART = /^(?:[A-Za-z0-9\-._~!$'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;
const FIELD_NAME = /^[a-z][a-z0-9-]*$/i;
/** The forms of UTC time Azure Storage accepts for `se` and `st` (ISO 8601, with `Z`). */
const UTC_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?Z)?$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * What each job needs, as Microsoft's backup guide asks for a `crdw` container SAS (no `l`): a
 * backup creates or writes blobs (`c` or `w`), a restore reads them (`r`). Listing a folder needs
 * `l` too, which no job of the service needs, so it is left to the storage account to refuse.
 */
const NEEDS: Record<BackupAccess, { any: string; says: string }> = {
  write: { any: 'cw', says: "c (create) or w (write), as a backup writes the folder's blobs" },
  read: { any: 'r', says: "r (read), as a restore reads the folder's blobs" },
};

function bad(rule: string): StorageError {
  return new StorageError('BadSas', `token: ${rule}`, 'token');
}

function decoded(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw bad('the SAS must be a query string of name=value pairs joined by & (a value is not valid percent-encoding)');
  }
}

/** Parses and checks a SAS token (with or without a leading `?`) at `now`; throws 'BadSas'. */
export function parseSasToken(token: unknown, now: Date): SasToken {
  if (typeof token !== 'string') throw bad('the SAS must be a string');
  const query = token.startsWith('?') ? token.slice(1) : token;
  if (query.length === 0) throw bad('the SAS must not be empty');
  if (query.length > 8192) throw bad('the SAS must be at most 8192 characters');
  const fields = new Map<string, string>();
  for (const part of query.split('&')) {
    const equals = part.indexOf('=');
    const name = equals < 0 ? part : part.slice(0, equals);
    const value = equals < 0 ? '' : part.slice(equals + 1);
    if (equals <= 0 || !FIELD_NAME.test(name) || !QUERY_PART.test(value)) {
      throw bad('the SAS must be a query string of name=value pairs joined by &, without spaces or unencoded special characters');
    }
    const key = name.toLowerCase();
    if (fields.has(key)) throw bad(`the SAS has the field '${key}' more than once`);
    fields.set(key, decoded(value));
  }

  const sig = fields.get('sig');
  if (!sig) throw bad("the SAS has no 'sig' (signature) field");
  if (!BASE64.test(sig)) throw bad("the SAS's 'sig' must be base64");

  const sp = fields.get('sp');
  if (!sp) throw bad("the SAS has no 'sp' (permissions) field");
  if (!/^[a-z]+$/.test(sp)) throw bad("the SAS's 'sp' must be permission letters such as crdw");

  const se = fields.get('se');
  if (!se) throw bad("the SAS has no 'se' (expiry) field");
  const expiresOn = utcTime(se, 'se');
  if (expiresOn.getTime() <= now.getTime()) throw bad(`the SAS expired at ${expiresOn.toISOString()} (field se)`);

  const st = fields.get('st');
  if (st !== undefined) utcTime(st, 'st');

  return { query, permissions: sp, expiresOn };
}

function utcTime(value: string, field: 'se' | 'st'): Date {
  const time = UTC_TIME.test(value) ? new Date(value) : undefined;
  if (!time || Number.isNaN(time.getTime())) throw bad(`the SAS's '${field}' must be a UTC time such as 2030-01-31T12:00:00Z`);
  return time;
}

/** Throws 'BadSas' unless the SAS's permissions allow what the job needs. */
export function checkSasAllows(sas: SasToken, access: BackupAccess): void {
  const need = NEEDS[access];
  if (![...need.any].some((letter) => sas.permissions.includes(letter))) {
    throw bad(`the SAS's permissions (sp=${sas.permissions}) must include ${need.says}`);
  }
}
