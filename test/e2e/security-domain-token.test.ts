// The security domain as the token holds it, checked from outside the emulator: through another
// binding (pkcs11js) in another process, and by reading the token directory's files as someone
// who has them but not the PINs would.
import { createDecipheriv } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKA, CKO } from '../../src/token/constants.js';
import { locateSoftHsm } from '../../src/token/embedded-softhsm.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';
import { ceremonyPayload } from '../helpers/test-domain.js';

let emulator: EmulatorProcess;
let dataDir: string;
let backup: Buffer;
let domainId: string;
let transferKeyId: string;

beforeAll(async () => {
  dataDir = seededDataDir();
  emulator = await startEmulatorProcess(dataDir);
  const bearer = await accessToken(emulator.url, emulator.admin);
  const call = (method: string, route: string, body?: unknown) => callJson(emulator.url, bearer, method, route, body);
  await call('POST', '/keys/secret-rsa/create', { kty: 'RSA-HSM' });
  backup = Buffer.from((await call('POST', '/keys/secret-rsa/backup')).body.value, 'base64url');
  await call('GET', '/securitydomain/upload'); // a transfer key in the token
  await emulator.stop();
  const db = new Database(path.join(dataDir, 'metadata.db'), { readonly: true });
  const marker = (name: string) => (db.prepare('SELECT value FROM markers WHERE name = ?').get(name) as { value: string }).value;
  domainId = JSON.parse(marker('security-domain')).domainId;
  transferKeyId = JSON.parse(marker('security-domain-transfer-key')).id;
  db.close();
});

afterAll(() => removeDataDir(dataDir));

describe('from another process, through pkcs11js', () => {
  it('sees the domain key as CKA_TRUSTED and unreadable, the sealing and transfer keys private and unreadable', () => {
    const pins = JSON.parse(readFileSync(path.join(dataDir, 'softhsm', 'pins.json'), 'utf8'));
    const hex = (prefix: string) => Buffer.concat([Buffer.from(prefix), Buffer.from(domainId, 'hex')]).toString('hex');
    const names = ['CKA_TOKEN', 'CKA_PRIVATE', 'CKA_SENSITIVE', 'CKA_EXTRACTABLE', 'CKA_NEVER_EXTRACTABLE'];
    const keys = [
      { id: hex('sd-wrap:'), class: CKO.SECRET_KEY, secretAttribute: CKA.VALUE, names: [...names, 'CKA_TRUSTED'] },
      { id: hex('sd-seal:'), class: CKO.SECRET_KEY, secretAttribute: CKA.VALUE, names: [...names, 'CKA_TRUSTED'] },
      { id: transferKeyId, class: CKO.PRIVATE_KEY, secretAttribute: CKA.PRIVATE_EXPONENT, names },
    ];
    const script = fileURLToPath(new URL('../helpers/inspect-with-pkcs11js.cjs', import.meta.url));
    const output = execFileSync(process.execPath, [script], {
      env: { ...process.env, SOFTHSM2_CONF: path.join(dataDir, 'softhsm', 'softhsm2.conf'), MODULE: locateSoftHsm(), LABEL: pins.label, PIN: pins.userPin, KEYS: JSON.stringify(keys) },
      encoding: 'utf8',
    });
    const [wrapping, sealing, transfer] = JSON.parse(output) as Array<{ found: number; attributes: Record<string, boolean>; readSecret: string; wrap: string }>;
    // Made by the security officer, so public (SoftHSM2 makes SO objects public), but trusted,
    // sensitive and never extractable.
    expect(wrapping).toMatchObject({ found: 1, attributes: { CKA_TOKEN: true, CKA_PRIVATE: false, CKA_SENSITIVE: true, CKA_EXTRACTABLE: false, CKA_TRUSTED: true }, readSecret: 'CKR_ATTRIBUTE_SENSITIVE', wrap: 'CKR_KEY_UNEXTRACTABLE' });
    expect(sealing).toMatchObject({ found: 1, attributes: { CKA_TOKEN: true, CKA_PRIVATE: true, CKA_SENSITIVE: true, CKA_EXTRACTABLE: false, CKA_TRUSTED: false }, readSecret: 'CKR_ATTRIBUTE_SENSITIVE', wrap: 'CKR_KEY_UNEXTRACTABLE' });
    expect(transfer).toMatchObject({ found: 1, attributes: { CKA_TOKEN: true, CKA_PRIVATE: true, CKA_SENSITIVE: true, CKA_EXTRACTABLE: false, CKA_NEVER_EXTRACTABLE: true }, readSecret: 'CKR_ATTRIBUTE_SENSITIVE', wrap: 'CKR_KEY_UNEXTRACTABLE' });
  });
});

describe('with the token directory but not the PINs', () => {
  function objectFiles(): Buffer[] {
    const root = path.join(dataDir, 'softhsm', 'tokens');
    const files: Buffer[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const full = path.join(dir, name);
        if (statSync(full).isDirectory()) walk(full);
        else files.push(readFileSync(full));
      }
    };
    walk(root);
    return files;
  }

  /** Opens the sealed backup with a candidate sealing key, as the emulator's sealer would. */
  function opens(candidate: Buffer): boolean {
    const header = backup.subarray(0, 25);
    const iv = backup.subarray(25, 37);
    const body = backup.subarray(37, backup.length - 16);
    try {
      const decipher = createDecipheriv('aes-256-gcm', candidate, iv);
      decipher.setAAD(Buffer.concat([header, Buffer.from('key-backup')]));
      decipher.setAuthTag(backup.subarray(backup.length - 16));
      decipher.update(body);
      decipher.final();
      return true;
    } catch {
      return false;
    }
  }

  it('finds the trusted key in the clear, but no key opens the sealed backup', () => {
    const payload = ceremonyPayload(path.join(dataDir, 'security-domain'));
    const files = objectFiles();
    const joined = Buffer.concat(files);
    // What the attack relies on does hold: SoftHSM2 keeps a public object's value in the clear.
    expect(joined.includes(payload.wrappingKey)).toBe(true);
    // The sealing key is a private object: SoftHSM2 keeps it encrypted under the user PIN.
    expect(joined.includes(payload.sealingKey)).toBe(false);
    // And the attack with it: every 32-byte window of every file, tried as the sealing key.
    let tried = 0;
    for (const file of files) {
      for (let offset = 0; offset + 32 <= file.length; offset++, tried++) {
        expect(opens(file.subarray(offset, offset + 32))).toBe(false);
      }
    }
    expect(tried).toBeGreaterThan(1000);
    // The procedure itself works: the real sealing key opens it.
    expect(opens(payload.sealingKey)).toBe(true);
    // Nor does the trusted key unwrap anything found in the backup: the wrapped key lies inside the seal.
    for (let offset = 0; offset + 40 <= backup.length; offset += 8) {
      const unwrap = createDecipheriv('id-aes256-wrap-pad', payload.wrappingKey, Buffer.from('A65959A6', 'hex'));
      expect(() => Buffer.concat([unwrap.update(backup.subarray(offset)), unwrap.final()])).toThrow();
    }
  });
});
