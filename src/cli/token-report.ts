// Human-readable lines about an open token and what it can do.
import { operationsOf } from '../token/capabilities.js';
import { CKM } from '../token/constants.js';
import type { Token } from '../token/token.js';

const NOTABLE: ReadonlyArray<[string, number]> = [
  ['RSA-OAEP', CKM.RSA_PKCS_OAEP],
  ['RSA-PSS', CKM.RSA_PKCS_PSS],
  ['RSA raw', CKM.RSA_X_509],
  ['ECDSA', CKM.ECDSA],
  ['hashed ECDSA', CKM.ECDSA_SHA256],
  ['AES-GCM', CKM.AES_GCM],
  ['AES-CBC-PAD', CKM.AES_CBC_PAD],
  ['AES key wrap', CKM.AES_KEY_WRAP],
  ['RSA-AES key wrap', CKM.RSA_AES_KEY_WRAP],
  ['HMAC-SHA256', CKM.SHA256_HMAC],
];

export function tokenReport(token: Token): string[] {
  const { description, capabilities } = token;
  const present = NOTABLE.filter(([, type]) => capabilities.has(type)).map(([name]) => name);
  const missing = NOTABLE.filter(([, type]) => !capabilities.has(type)).map(([name]) => name);
  const kwp = capabilities.aesKeyWrapPad;
  if (kwp !== undefined) present.push(`AES key wrap with padding (0x${kwp.toString(16)})`);
  else missing.push('AES key wrap with padding');
  return [
    `token: '${description.label}' (${description.manufacturerId} ${description.model}, serial ${description.serialNumber}) in slot ${description.slot}`,
    `module: ${description.library.path} (${description.library.description} ${description.library.version})`,
    `mechanisms: ${capabilities.list().length}; present: ${present.join(', ')}`,
    `absent: ${missing.length > 0 ? missing.join(', ') : 'none'}`,
  ];
}

export function mechanismTable(token: Token): string[] {
  const rows = token.capabilities.list().map((m) => {
    const sizes = m.maxKeySize > 0 ? `${m.minKeySize}-${m.maxKeySize}` : '';
    return `${m.name.padEnd(28)} ${sizes.padEnd(12)} ${operationsOf(m.flags).join(' ')}`;
  });
  return [`${'mechanism'.padEnd(28)} ${'key sizes'.padEnd(12)} operations`, ...rows];
}
