// What an attestation states of one token object of a key: its PKCS#11 attributes as the token
// reports them at the time of the call, named as the standard names them, with the key it
// belongs to and the token it lives in. The statement is the payload of a JWS (key-attestation.ts).
import type { TokenDescription, StatedAttributes } from '../../token/token.js';
import { CKK, CKO } from '../../token/constants.js';

export const STATEMENT_VERSION = '1.0';

const CLASS_NAMES: Readonly<Record<number, string>> = {
  [CKO.PUBLIC_KEY]: 'CKO_PUBLIC_KEY',
  [CKO.PRIVATE_KEY]: 'CKO_PRIVATE_KEY',
  [CKO.SECRET_KEY]: 'CKO_SECRET_KEY',
};

const KEY_TYPE_NAMES: Readonly<Record<number, string>> = {
  [CKK.RSA]: 'CKK_RSA',
  [CKK.EC]: 'CKK_EC',
  [CKK.GENERIC_SECRET]: 'CKK_GENERIC_SECRET',
  [CKK.AES]: 'CKK_AES',
};

/** camelCase attribute names (token/attributes.ts) as PKCS#11 spells them. */
function standardName(name: string): string {
  return `CKA_${name.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
}

function standardValue(name: string, value: boolean | number | Buffer): boolean | number | string {
  if (Buffer.isBuffer(value)) return value.toString('hex');
  if (name === 'class') return CLASS_NAMES[value as number] ?? `0x${(value as number).toString(16)}`;
  if (name === 'keyType') return KEY_TYPE_NAMES[value as number] ?? `0x${(value as number).toString(16)}`;
  return value;
}

export interface KeyStatementInput {
  /** The key version's id, as the HSM names it. */
  kid: string;
  /** The key's public JWK fields, for a key pair. */
  publicKey?: Record<string, string>;
  stated: StatedAttributes;
  token: TokenDescription;
  hsmPlatform: string;
  issuedAt: number;
}

export interface KeyStatement {
  version: string;
  iat: number;
  kid: string;
  hsmPlatform: string;
  token: { label: string; manufacturerId: string; model: string; serialNumber: string; library: string };
  /** generated: made in the token (CKA_LOCAL); imported: material brought in (import, BYOK, or a restored backup). */
  origin: 'generated' | 'imported';
  attributes: Record<string, boolean | number | string>;
  publicKey?: Record<string, string>;
}

export function keyStatement({ kid, publicKey, stated, token, hsmPlatform, issuedAt }: KeyStatementInput): KeyStatement {
  const attributes = Object.fromEntries(
    Object.entries(stated)
      .filter((entry): entry is [string, boolean | number | Buffer] => entry[1] !== undefined)
      .map(([name, value]) => [standardName(name), standardValue(name, value)]),
  );
  return {
    version: STATEMENT_VERSION,
    iat: issuedAt,
    kid,
    hsmPlatform,
    token: {
      label: token.label,
      manufacturerId: token.manufacturerId,
      model: token.model,
      serialNumber: token.serialNumber,
      library: `${token.library.description} ${token.library.version}`,
    },
    origin: stated.local === true ? 'generated' : 'imported',
    attributes,
    ...(publicKey ? { publicKey } : {}),
  };
}
