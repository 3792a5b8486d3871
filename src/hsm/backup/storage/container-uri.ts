// The storageResourceUri of a backup or restore request: a blob container's URL, either in Azure's
// form (https://ACCOUNT.blob.core.windows.net/CONTAINER) or path style, as Azurite and other
// emulators serve it on an IP address or localhost (https://127.0.0.1:10000/ACCOUNT/CONTAINER).
//
// Only https: the service never sends a SAS or backup over plain HTTP, and neither does the
// emulator (Azurite serves HTTPS with --cert/--key; `mhsm backup start --dir` needs no server).
// Messages show the URL without query or fragment, as a SAS pasted into it must not be echoed.
import { isIP } from 'node:net';
import { StorageError } from './backup-storage.js';

export interface ContainerUri {
  /** https://host[:port][/account]/container, without a trailing slash, query or fragment. */
  readonly url: string;
  readonly accountName: string;
  readonly containerName: string;
}

/** Azure's container names: 3 to 63 lowercase letters, digits and single hyphens, starting and ending alphanumeric. */
const CONTAINER = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/;
const FIELD = 'storageResourceUri';
const FORM = 'https://ACCOUNT.blob.core.windows.net/CONTAINER (or https://127.0.0.1:PORT/ACCOUNT/CONTAINER for Azurite)';

function bad(rule: string): StorageError {
  return new StorageError('BadUri', `${FIELD}: ${rule}`, FIELD);
}

/** Hosts that serve accounts by path rather than by host name: emulators on loopback or an IP. */
function isPathStyle(hostname: string): boolean {
  const bare = hostname.replace(/^\[|\]$/g, '');
  return isIP(bare) !== 0 || bare === 'localhost';
}

export function parseContainerUri(value: unknown): ContainerUri {
  if (typeof value !== 'string' || value.length === 0) throw bad(`required, the container's URL: ${FORM}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw bad(`must be an absolute URL: ${FORM}`);
  }
  const shown = `${url.origin}${url.pathname}`;
  if (url.protocol !== 'https:') throw bad(`must use https, not ${url.protocol.replace(/:$/, '')} (${shown})`);
  if (url.username || url.password) throw bad('must not hold a user name or password');
  if (url.search || url.hash) throw bad(`must not carry a query string or fragment: pass the SAS in token (${shown})`);

  const segments = url.pathname.replace(/\/$/, '').split('/').slice(1).map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw bad(`has a path that is not valid percent-encoding (${shown})`);
    }
  });
  const pathStyle = isPathStyle(url.hostname);
  const accountName = pathStyle ? segments.shift() : url.hostname.split('.')[0];
  if (!accountName) throw bad(`must name a storage account: ${FORM} (${shown})`);
  const containerName = segments.shift();
  if (containerName === undefined || containerName === '') throw bad(`must name a container: ${FORM} (${shown})`);
  if (segments.length > 0) throw bad(`must be the container's URL, without a folder or blob path (${shown})`);
  if (!CONTAINER.test(containerName)) {
    throw bad(`the container name '${containerName}' must be 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit`);
  }
  const base = pathStyle ? `${url.origin}/${encodeURIComponent(accountName)}` : url.origin;
  return { url: `${base}/${containerName}`, accountName, containerName };
}
