// The one typed table of attributes: camelCase name -> CKA_* number and value kind.
import type { NativeAttribute } from '../native/addon.js';
import { CKA } from './constants.js';

type AttributeKind = 'bool' | 'ulong' | 'bytes' | 'string';

const ATTRIBUTES = {
  class: { type: CKA.CLASS, kind: 'ulong' },
  token: { type: CKA.TOKEN, kind: 'bool' },
  private: { type: CKA.PRIVATE, kind: 'bool' },
  label: { type: CKA.LABEL, kind: 'string' },
  value: { type: CKA.VALUE, kind: 'bytes' },
  trusted: { type: CKA.TRUSTED, kind: 'bool' },
  keyType: { type: CKA.KEY_TYPE, kind: 'ulong' },
  id: { type: CKA.ID, kind: 'bytes' },
  sensitive: { type: CKA.SENSITIVE, kind: 'bool' },
  encrypt: { type: CKA.ENCRYPT, kind: 'bool' },
  decrypt: { type: CKA.DECRYPT, kind: 'bool' },
  wrap: { type: CKA.WRAP, kind: 'bool' },
  unwrap: { type: CKA.UNWRAP, kind: 'bool' },
  sign: { type: CKA.SIGN, kind: 'bool' },
  verify: { type: CKA.VERIFY, kind: 'bool' },
  derive: { type: CKA.DERIVE, kind: 'bool' },
  modulus: { type: CKA.MODULUS, kind: 'bytes' },
  modulusBits: { type: CKA.MODULUS_BITS, kind: 'ulong' },
  publicExponent: { type: CKA.PUBLIC_EXPONENT, kind: 'bytes' },
  privateExponent: { type: CKA.PRIVATE_EXPONENT, kind: 'bytes' },
  prime1: { type: CKA.PRIME_1, kind: 'bytes' },
  prime2: { type: CKA.PRIME_2, kind: 'bytes' },
  exponent1: { type: CKA.EXPONENT_1, kind: 'bytes' },
  exponent2: { type: CKA.EXPONENT_2, kind: 'bytes' },
  coefficient: { type: CKA.COEFFICIENT, kind: 'bytes' },
  valueLen: { type: CKA.VALUE_LEN, kind: 'ulong' },
  extractable: { type: CKA.EXTRACTABLE, kind: 'bool' },
  local: { type: CKA.LOCAL, kind: 'bool' },
  neverExtractable: { type: CKA.NEVER_EXTRACTABLE, kind: 'bool' },
  alwaysSensitive: { type: CKA.ALWAYS_SENSITIVE, kind: 'bool' },
  keyGenMechanism: { type: CKA.KEY_GEN_MECHANISM, kind: 'ulong' },
  modifiable: { type: CKA.MODIFIABLE, kind: 'bool' },
  copyable: { type: CKA.COPYABLE, kind: 'bool' },
  destroyable: { type: CKA.DESTROYABLE, kind: 'bool' },
  ecParams: { type: CKA.EC_PARAMS, kind: 'bytes' },
  ecPoint: { type: CKA.EC_POINT, kind: 'bytes' },
  wrapWithTrusted: { type: CKA.WRAP_WITH_TRUSTED, kind: 'bool' },
} as const satisfies Record<string, { type: number; kind: AttributeKind }>;

export type AttributeName = keyof typeof ATTRIBUTES;

type ValueOfKind<K extends AttributeKind> = K extends 'bool'
  ? boolean
  : K extends 'ulong'
    ? number
    : K extends 'bytes'
      ? Buffer
      : string;

/** A template: each present attribute with the value type of its kind. */
export type Attributes = { [N in AttributeName]?: ValueOfKind<(typeof ATTRIBUTES)[N]['kind']> };

export function toNativeTemplate(attributes: Attributes): NativeAttribute[] {
  const template: NativeAttribute[] = [];
  for (const [name, value] of Object.entries(attributes) as Array<[AttributeName, Attributes[AttributeName]]>) {
    if (value === undefined) continue;
    template.push({ type: ATTRIBUTES[name].type, value });
  }
  return template;
}

export function attributeTypes(names: readonly AttributeName[]): number[] {
  return names.map((name) => ATTRIBUTES[name].type);
}

function decodeValue(kind: AttributeKind, raw: Buffer): boolean | number | Buffer | string {
  switch (kind) {
    case 'bool':
      return raw.length > 0 && raw[0] !== 0;
    case 'ulong':
      // CK_ULONG is 8 bytes on LP64 systems and 4 on Windows, in host byte order.
      return raw.length === 8 ? Number(raw.readBigUInt64LE(0)) : raw.readUInt32LE(0);
    case 'bytes':
      return raw;
    case 'string':
      return raw.toString('utf8');
  }
}

/** Decodes the buffers C_GetAttributeValue returned for `names`, in the same order. */
export function decodeAttributes<N extends AttributeName>(names: readonly N[], raw: Buffer[]): Required<Pick<Attributes, N>> {
  const result: Record<string, unknown> = {};
  names.forEach((name, index) => {
    const value = raw[index];
    if (value === undefined) throw new Error(`missing value for attribute ${name}`);
    result[name] = decodeValue(ATTRIBUTES[name].kind, value);
  });
  return result as Required<Pick<Attributes, N>>;
}
