// Replays a recording of the real service (README.md) against a running emulator and lists every
// way the answers differ: status, error code, the headers clients read, and each response field's
// presence, type and, where the service's answer is deterministic, value.
//
// What cannot be the same is matched, not compared: key material, ids with versions, times, job
// ids and request ids are compared by type, and the live value then stands in for the recorded one
// in later requests (a kid in a path, a ciphertext to decrypt, a backup to restore, a job to poll).
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RecordedEntry {
  method: string;
  path: string;
  query: string;
  authorized: boolean;
  requestBody: unknown;
  status: number;
  responseHeaders: Record<string, string>;
  responseBody: unknown;
}

export interface Recording {
  /** group/file.json */
  file: string;
  source: { repo: string; path: string; commit: string };
  test: string;
  host: string;
  entries: RecordedEntry[];
}

const RECORDINGS = fileURLToPath(new URL('./recordings/', import.meta.url));

export function loadRecordings(): Recording[] {
  return readdirSync(RECORDINGS)
    .sort()
    .flatMap((group) =>
      readdirSync(path.join(RECORDINGS, group))
        .filter((name) => name.endsWith('.json'))
        .sort()
        .map((name) => ({ file: `${group}/${name}`, ...(JSON.parse(readFileSync(path.join(RECORDINGS, group, name), 'utf8')) as Omit<Recording, 'file'>) })),
    );
}

/** Headers clients and proxies read, compared by presence wherever the service sent them. */
const HEADERS = [
  'content-type',
  'x-ms-request-id',
  'www-authenticate',
  'retry-after',
  'azure-asyncoperation',
  'location',
  'cache-control',
  'strict-transport-security',
  'x-content-type-options',
  'x-frame-options',
  'content-security-policy',
  'x-ms-keyvault-service-version',
  'x-ms-keyvault-network-info',
  'x-ms-keyvault-region',
  'x-ms-server-latency',
  'x-ms-build-version',
];
/** Of those, the ones whose value is the same on every answer. */
const FIXED_HEADERS = ['cache-control', 'strict-transport-security', 'x-content-type-options', 'x-frame-options', 'content-security-policy'];

/**
 * Fields whose value is this HSM's own (key material, versions, times, ids made by the service):
 * compared by type, then the live value stands in for the recorded one.
 */
const VOLATILE = new Set([
  'kid', 'n', 'x', 'y', 'iv', 'tag', 'created', 'updated', 'deletedDate', 'scheduledPurgeDate', 'recoveryId',
  'jobId', 'startTime', 'endTime', 'azureStorageBlobContainerUri', 'key_hsm', 'nonce',
  // A key attestation's statements and their certificates are the HSM's own.
  'certificatePemFile', 'privateKeyAttestation', 'publicKeyAttestation',
  // The security domain's transfer key is this HSM's.
  'transfer_key',
]);
/** The service ends error messages with the request's id: compared without it. */
const ACTIVITY_ID = / \(Activity ID: [^)]*\)$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** How long a replayed job may take to reach the state its last recorded poll shows. */
const JOB_WAIT_MS = 30_000;

export interface ReplayContext {
  url: string;
  bearer: string;
  /** The names of the role assignments the emulator holds of its own (its initial administrator's). */
  ownAssignments: string[];
  /** A Blob Storage container the HSM can reach, and a SAS for it. */
  storage: { containerUrl: string; sas: string };
  /** A token of the emulator's attestation authority, and that authority. */
  attestation: { token: string; authority: string };
}

export interface EntryResult {
  index: number;
  request: string;
  differences: string[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? 'absent' : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export class Replayer {
  /** Recorded value -> live value, longest first when applied. */
  readonly #stands = new Map<string, string>();
  /** Whether the entry being compared is a setting's, whose `value` is the setting (not key material). */
  #settings = false;
  /** The entry being compared. */
  #entry: RecordedEntry | undefined;
  /** Names of the role assignments this recording made (PUT), which a listing must show. */
  readonly #madeAssignments = new Set<string>();

  constructor(private readonly context: ReplayContext) {}

  async replay(recording: Recording): Promise<EntryResult[]> {
    this.#stands.set(`https://${recording.host}`, this.context.url);
    const results: EntryResult[] = [];
    for (const [index, entry] of recording.entries.entries()) {
      const differences: string[] = [];
      let live = await this.#send(recording, entry);
      // The recording's last poll of a job shows it done: poll the live job until it is too.
      const deadline = Date.now() + JOB_WAIT_MS;
      while (isPoll(entry) && isDone(entry.responseBody) && !isDone(live.body) && live.status === 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        live = await this.#send(recording, entry);
      }
      const request = `${entry.method} ${entry.path}`;
      if (live.status !== entry.status) differences.push(`status: recorded ${entry.status}, live ${live.status}${live.status >= 400 ? ` ${show(live.body)}` : ''}`);
      this.#compareHeaders(entry, live.headers, differences);
      this.#settings = entry.path.startsWith('/settings');
      this.#entry = entry;
      const assignment = /\/roleAssignments\/([^/?]+)$/.exec(entry.path)?.[1];
      if (assignment && entry.method === 'PUT') this.#madeAssignments.add(this.#substitute(assignment));
      // A poll whose recorded job is done is compared whole: the live job must be done too.
      const poll = isPoll(entry) && !isDone(entry.responseBody);
      if (live.status === entry.status) this.#compare(entry.responseBody, live.body, 'body', differences, poll);
      results.push({ index, request, differences });
    }
    return results;
  }

  async #send(recording: Recording, entry: RecordedEntry): Promise<{ status: number; headers: Headers; body: unknown }> {
    // A role's or assignment's name the recording's sanitizer replaced ("some-uuid") was a GUID.
    const named = /\/role(?:Assignments|Definitions)\/([^/?]+)$/.exec(entry.path)?.[1];
    if (named && !GUID.test(named) && entry.status < 400 && !this.#stands.has(named)) this.#stands.set(named, randomUUID());
    const query = entry.query === '' ? 'api-version=7.4' : entry.query;
    const target = `${this.context.url}${this.#substitute(entry.path)}?${query}`;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (entry.authorized) headers.authorization = `Bearer ${this.context.bearer}`;
    const body = entry.requestBody === null || entry.requestBody === undefined ? undefined : this.#requestBody(recording, entry.requestBody as Json);
    const response = await fetch(target, { method: entry.method, headers, body: body === undefined ? (entry.authorized || entry.method === 'GET' ? undefined : '') : JSON.stringify(body) });
    const text = await response.text();
    let parsed: unknown = text === '' ? null : text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // a text body stays text
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }

  /** The recorded request with the live stand-ins, storage and attestation of this run. */
  #requestBody(recording: Recording, body: Json): Json {
    const substituted = this.#substituteDeep(body) as { [key: string]: Json };
    if (typeof substituted !== 'object' || substituted === null || Array.isArray(substituted)) return substituted;
    const failsToAuthenticate = /fail(s)? to authenticate/i.test(recording.test);
    if (typeof substituted.storageResourceUri === 'string' && !this.#stands.has(substituted.storageResourceUri)) {
      this.#stands.set(substituted.storageResourceUri, this.context.storage.containerUrl);
    }
    if ('storageResourceUri' in substituted) {
      substituted.storageResourceUri = this.context.storage.containerUrl;
      if (!failsToAuthenticate) substituted.token = this.context.storage.sas;
    }
    const sas = substituted.sasTokenParameters as { [key: string]: Json } | undefined;
    if (sas && typeof sas === 'object') {
      sas.storageResourceUri = this.context.storage.containerUrl;
      if (!failsToAuthenticate) sas.token = this.context.storage.sas;
    }
    if (typeof substituted.folderToRestore === 'string') substituted.folderToRestore = lastSegment(this.#substitute(substituted.folderToRestore));
    if (typeof substituted.target === 'string') substituted.target = this.context.attestation.token;
    // A principal the recording's sanitizer renamed was a GUID (an object id) too.
    const properties = substituted.properties as { [key: string]: Json } | undefined;
    if (properties && typeof properties.principalId === 'string' && !GUID.test(properties.principalId)) {
      const principal = properties.principalId;
      if (!this.#stands.has(principal)) this.#stands.set(principal, randomUUID());
      properties.principalId = this.#stands.get(principal) as string;
    }
    const policy = substituted.release_policy as { [key: string]: Json } | undefined;
    if (policy && typeof policy.data === 'string') policy.data = this.#withLocalAuthority(policy.data);
    return substituted;
  }

  /** A release policy naming the recorded attestation authority, made to name the emulator's. */
  #withLocalAuthority(data: string): string {
    const document = JSON.parse(Buffer.from(data, 'base64url').toString()) as { anyOf?: Array<{ authority?: string }> };
    for (const condition of document.anyOf ?? []) {
      if (typeof condition.authority === 'string') {
        this.#stands.set(condition.authority, this.context.attestation.authority);
        condition.authority = this.context.attestation.authority;
      }
    }
    return Buffer.from(JSON.stringify(document)).toString('base64url');
  }

  #substitute(text: string): string {
    let result = text;
    for (const [recorded, live] of [...this.#stands].sort((a, b) => b[0].length - a[0].length)) result = result.split(recorded).join(live);
    return result;
  }

  #substituteDeep(value: Json): Json {
    if (typeof value === 'string') return this.#stands.get(value) ?? this.#substitute(value);
    if (Array.isArray(value)) return value.map((item) => this.#substituteDeep(item));
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, this.#substituteDeep(item)]));
    return value;
  }

  #learn(recorded: string, live: string): void {
    if (recorded === live || recorded.length < 4) return;
    this.#stands.set(recorded, live);
    // A backup folder's URL names its folder, which a restore names alone.
    if (/^https:\/\//.test(recorded) && /^https:\/\//.test(live) && /blob|backup|uri/.test(recorded)) this.#stands.set(lastSegment(recorded), lastSegment(live));
    // A kid's version names the same version in later paths.
    const recordedVersion = /keys\/[^/]+\/([0-9a-zA-Z]+)$/.exec(recorded)?.[1];
    const liveVersion = /keys\/[^/]+\/([0-9a-zA-Z]+)$/.exec(live)?.[1];
    if (recordedVersion && liveVersion) this.#stands.set(recordedVersion, liveVersion);
    const recordedJob = /\/(backup|restore)\/([^/?]+)\/pending/.exec(recorded)?.[2];
    const liveJob = /\/(backup|restore)\/([^/?]+)\/pending/.exec(live)?.[2];
    if (recordedJob && liveJob) this.#stands.set(recordedJob, liveJob);
  }

  #compareHeaders(entry: RecordedEntry, live: Headers, differences: string[]): void {
    for (const name of HEADERS) {
      const recorded = entry.responseHeaders[name];
      if (recorded === undefined) continue;
      const value = live.get(name);
      if (value === null) {
        differences.push(`header ${name}: recorded ${show(recorded)}, live absent`);
        continue;
      }
      if (FIXED_HEADERS.includes(name) && value !== recorded) differences.push(`header ${name}: recorded ${show(recorded)}, live ${show(value)}`);
      if (name === 'content-type' && value.split(';')[0] !== recorded.split(';')[0]) differences.push(`header content-type: recorded ${show(recorded)}, live ${show(value)}`);
      if (name === 'www-authenticate' && !value.includes('resource="https://managedhsm.azure.net"')) differences.push(`header www-authenticate: live ${show(value)} names no managedhsm resource`);
      if (name === 'azure-asyncoperation' || name === 'location') this.#learn(recorded, value);
    }
  }

  #compare(recorded: unknown, live: unknown, where: string, differences: string[], poll: boolean): void {
    const field = where.split('.').pop() ?? '';
    if (poll && (field === 'status' || field === 'endTime' || field === 'statusDetails')) return;
    const volatile = VOLATILE.has(field) || (field === 'value' && typeof recorded === 'string' && !this.#settings) || (field === 'data' && where.includes('release_policy'));
    if (typeOf(recorded) !== typeOf(live)) {
      differences.push(`${where}: recorded ${typeOf(recorded)} ${show(recorded)}, live ${typeOf(live)} ${show(live)}`);
      return;
    }
    if (where === 'body.value' && typeof recorded === 'string' && typeof live === 'string' && this.#entry) {
      const path = this.#entry.path.toLowerCase();
      // A decryption or unwrap answers the very plaintext that was sealed; random bytes, as many as asked.
      if (/\/(decrypt|unwrapkey)$/.test(path)) {
        if (this.#substitute(recorded) !== live) differences.push(`${where}: recorded ${show(recorded)}, live ${show(live)} (a different plaintext)`);
        return;
      }
      if (path === '/rng' && Buffer.from(recorded, 'base64url').length !== Buffer.from(live, 'base64url').length) {
        differences.push(`${where}: recorded ${Buffer.from(recorded, 'base64url').length} bytes, live ${Buffer.from(live, 'base64url').length}`);
        return;
      }
    }
    if (field === 'kid' && typeof recorded === 'string' && typeof live === 'string') this.#compareKid(recorded, live, where, differences);
    if (field === 'data' && where.includes('release_policy') && typeof recorded === 'string' && typeof live === 'string') {
      this.#compare(decodedPolicy(recorded), decodedPolicy(live), `${where}(decoded)`, differences, poll);
      return;
    }
    if (volatile) {
      if (typeof recorded === 'string' && typeof live === 'string') this.#learn(recorded, live);
      return;
    }
    if (Array.isArray(recorded)) {
      this.#compareArrays(recorded, live as unknown[], where, differences, poll);
      return;
    }
    if (recorded !== null && typeof recorded === 'object') {
      const liveObject = live as Record<string, unknown>;
      for (const key of new Set([...Object.keys(recorded), ...Object.keys(liveObject)])) {
        const inRecorded = key in recorded;
        const inLive = key in liveObject;
        if (inRecorded && !inLive) differences.push(`${where}.${key}: recorded ${show((recorded as Record<string, unknown>)[key])}, live absent`);
        else if (!inRecorded && inLive) differences.push(`${where}.${key}: recorded absent, live ${show(liveObject[key])}`);
        else this.#compare((recorded as Record<string, unknown>)[key], liveObject[key], `${where}.${key}`, differences, poll);
      }
      return;
    }
    if (where === 'body.error.message' && typeof recorded === 'string' && typeof live === 'string') {
      if (recorded.replace(ACTIVITY_ID, '') !== live.replace(ACTIVITY_ID, '')) differences.push(`${where}: recorded ${show(recorded.replace(ACTIVITY_ID, ''))}, live ${show(live.replace(ACTIVITY_ID, ''))}`);
      return;
    }
    const expected = typeof recorded === 'string' ? this.#substitute(recorded) : recorded;
    if (expected !== live) differences.push(`${where}: recorded ${show(expected)}, live ${show(live)}`);
  }

  /** A kid names the same key; its host is this HSM's and its version this HSM's own (32 hex digits). */
  #compareKid(recorded: string, live: string, where: string, differences: string[]): void {
    const shape = (kid: string) => /keys\/([^/]+)(?:\/([0-9a-f]{32}))?\/?$/i.exec(kid);
    const [recordedShape, liveShape] = [shape(this.#substitute(recorded)), shape(live)];
    const sameKey = recordedShape && liveShape && recordedShape[1]?.toLowerCase() === liveShape[1]?.toLowerCase() && (recordedShape[2] === undefined) === (liveShape[2] === undefined);
    if (!sameKey || !live.startsWith(`${this.context.url}/keys/`)) differences.push(`${where}: recorded ${show(recorded)}, live ${show(live)} (another key, host or form)`);
  }

  #compareArrays(recorded: unknown[], live: unknown[], where: string, differences: string[], poll: boolean): void {
    if (recorded.every((item) => typeOf(item) !== 'object') && live.every((item) => typeOf(item) !== 'object')) {
      // Lists of names (key_ops, data actions): the service's order varies between answers.
      const recordedItems = recorded.map((item) => JSON.stringify(typeof item === 'string' ? this.#substitute(item) : item));
      const liveItems = live.map((item) => JSON.stringify(item));
      const missing = recordedItems.filter((item) => !liveItems.includes(item));
      const extra = liveItems.filter((item) => !recordedItems.includes(item));
      if (missing.length > 0 || extra.length > 0 || recordedItems.length !== liveItems.length) {
        differences.push(`${where}: live lacks [${missing.join(', ')}] and adds [${extra.join(', ')}]`);
      }
      return;
    }
    const keyOf = (item: unknown) => (item as { name?: unknown }).name ?? (item as { kid?: unknown }).kid;
    const byKey = [...recorded, ...live].every((item) => typeof keyOf(item) === 'string');
    if (!byKey) {
      if (recorded.length !== live.length) differences.push(`${where}: recorded ${recorded.length} items, live ${live.length}`);
      else recorded.forEach((item, index) => this.#compare(item, live[index], `${where}[${index}]`, differences, poll));
      return;
    }
    // Items with names (role definitions, assignments) are matched by name, in any order.
    const liveByKey = new Map(live.map((item) => [String(keyOf(item)), item]));
    const recordedKeys = new Set<string>();
    for (const item of recorded) {
      const key = this.#substitute(String(keyOf(item)));
      recordedKeys.add(key);
      const match = liveByKey.get(key);
      // Items the recorded HSM held before the test are marked, so that only they can be accepted.
      const before = where.endsWith('value') && this.#entry?.path.endsWith('/roleAssignments') && !this.#madeAssignments.has(key) ? ' (held before the test)' : '';
      if (match === undefined) differences.push(`${where}: live lacks the item named ${key}${before}`);
      else this.#compare(item, match, `${where}[${key}]`, differences, poll);
    }
    for (const key of liveByKey.keys()) {
      if (recordedKeys.has(key)) continue;
      const own = this.#entry?.path.endsWith('/roleAssignments') && this.context.ownAssignments.includes(key) ? " (the emulator's own)" : '';
      differences.push(`${where}: live adds an item named ${key}${own}`);
    }
  }
}

/** A GET of a long-running job's status: the live job may be further along than the recorded one. */
function isPoll(entry: RecordedEntry): boolean {
  return entry.method === 'GET' && /\/(backup|restore)\/[^/]+\/pending$/.test(entry.path);
}

/** A stored release policy's data, decoded (or the text itself, if it is not a policy). */
function decodedPolicy(data: string): unknown {
  try {
    return JSON.parse(Buffer.from(data, 'base64url').toString());
  } catch {
    return data;
  }
}

function isDone(body: unknown): boolean {
  const status = (body as { status?: unknown } | null)?.status;
  return status === 'Succeeded' || status === 'Failed';
}

function lastSegment(url: string): string {
  return url.replace(/\/+$/, '').split('/').pop() ?? url;
}
