// PKCS#11 numbers used by the token layer (OASIS PKCS#11 v2.40 unless noted).
import { MECHANISM_NAMES } from './mechanism-names.js';

export const CKO = {
  DATA: 0x0,
  PUBLIC_KEY: 0x2,
  PRIVATE_KEY: 0x3,
  SECRET_KEY: 0x4,
} as const;

export const CKK = {
  RSA: 0x0,
  EC: 0x3,
  GENERIC_SECRET: 0x10,
  AES: 0x1f,
} as const;

export const CKU = { SO: 0, USER: 1 } as const;

export const CKF = {
  // token
  TOKEN_PRESENT: 0x1,
  LOGIN_REQUIRED: 0x4,
  USER_PIN_INITIALIZED: 0x8,
  TOKEN_INITIALIZED: 0x400,
  // session
  RW_SESSION: 0x2,
  SERIAL_SESSION: 0x4,
  // mechanism
  HW: 0x1,
  ENCRYPT: 0x100,
  DECRYPT: 0x200,
  DIGEST: 0x400,
  SIGN: 0x800,
  VERIFY: 0x2000,
  GENERATE: 0x8000,
  GENERATE_KEY_PAIR: 0x10000,
  WRAP: 0x20000,
  UNWRAP: 0x40000,
  DERIVE: 0x80000,
} as const;

export const CKG = { MGF1_SHA1: 0x1, MGF1_SHA256: 0x2, MGF1_SHA384: 0x3, MGF1_SHA512: 0x4 } as const;

export const CKA = {
  CLASS: 0x0,
  TOKEN: 0x1,
  PRIVATE: 0x2,
  LABEL: 0x3,
  VALUE: 0x11,
  TRUSTED: 0x86,
  KEY_TYPE: 0x100,
  ID: 0x102,
  SENSITIVE: 0x103,
  ENCRYPT: 0x104,
  DECRYPT: 0x105,
  WRAP: 0x106,
  UNWRAP: 0x107,
  SIGN: 0x108,
  VERIFY: 0x10a,
  DERIVE: 0x10c,
  MODULUS: 0x120,
  MODULUS_BITS: 0x121,
  PUBLIC_EXPONENT: 0x122,
  PRIVATE_EXPONENT: 0x123,
  PRIME_1: 0x124,
  PRIME_2: 0x125,
  EXPONENT_1: 0x126,
  EXPONENT_2: 0x127,
  COEFFICIENT: 0x128,
  VALUE_LEN: 0x161,
  EXTRACTABLE: 0x162,
  LOCAL: 0x163,
  NEVER_EXTRACTABLE: 0x164,
  ALWAYS_SENSITIVE: 0x165,
  KEY_GEN_MECHANISM: 0x166,
  MODIFIABLE: 0x170,
  COPYABLE: 0x171,
  DESTROYABLE: 0x172,
  EC_PARAMS: 0x180,
  EC_POINT: 0x181,
  WRAP_WITH_TRUSTED: 0x210,
} as const;

export const CKM = {
  RSA_PKCS_KEY_PAIR_GEN: 0x0,
  RSA_PKCS: 0x1,
  RSA_X_509: 0x3,
  SHA1_RSA_PKCS: 0x6,
  RSA_PKCS_OAEP: 0x9,
  RSA_PKCS_PSS: 0xd,
  SHA256_RSA_PKCS: 0x40,
  SHA384_RSA_PKCS: 0x41,
  SHA512_RSA_PKCS: 0x42,
  SHA256_RSA_PKCS_PSS: 0x43,
  SHA384_RSA_PKCS_PSS: 0x44,
  SHA512_RSA_PKCS_PSS: 0x45,
  SHA_1: 0x220,
  SHA_1_HMAC: 0x221,
  SHA256: 0x250,
  SHA256_HMAC: 0x251,
  SHA384: 0x260,
  SHA384_HMAC: 0x261,
  SHA512: 0x270,
  SHA512_HMAC: 0x271,
  GENERIC_SECRET_KEY_GEN: 0x350,
  EC_KEY_PAIR_GEN: 0x1040,
  ECDSA: 0x1041,
  ECDSA_SHA1: 0x1042,
  ECDSA_SHA256: 0x1044,
  ECDSA_SHA384: 0x1045,
  ECDSA_SHA512: 0x1046,
  ECDH1_DERIVE: 0x1050,
  RSA_AES_KEY_WRAP: 0x1054,
  /** PKCS#11 3.0. */
  EC_EDWARDS_KEY_PAIR_GEN: 0x1055,
  /** PKCS#11 3.0. */
  EDDSA: 0x1057,
  AES_KEY_GEN: 0x1080,
  AES_ECB: 0x1081,
  AES_CBC: 0x1082,
  AES_CBC_PAD: 0x1085,
  AES_CTR: 0x1086,
  AES_GCM: 0x1087,
  AES_CMAC: 0x108a,
  /** RFC 3394. */
  AES_KEY_WRAP: 0x2109,
  /** RFC 5649 as numbered by v2.40 drafts and SoftHSM2 2.6.1. */
  AES_KEY_WRAP_PAD: 0x210a,
  /** RFC 5649 as numbered by PKCS#11 3.0 (CKM_AES_KEY_WRAP_KWP). */
  AES_KEY_WRAP_KWP: 0x210b,
} as const;

export type MechanismName = keyof typeof CKM;

const ourNames = new Map<number, string>(Object.entries(CKM).map(([name, value]) => [value, `CKM_${name}`]));

/** `CKM_NAME` for the mechanisms we know or the v2.40 header names, else the hexadecimal number. */
export function mechanismName(type: number): string {
  return ourNames.get(type) ?? MECHANISM_NAMES.get(type) ?? `0x${type.toString(16).padStart(8, '0')}`;
}
