// Attribute templates for every key the token layer creates. Private and secret keys are always
// token objects (unless ephemeral), private, sensitive and not extractable, except that a caller
// may ask for wrap-only export: extractable, but only under a CKA_TRUSTED wrapping key.
import type { NativeMechanism } from '../native/addon.js';
import { type Attributes, toNativeTemplate } from './attributes.js';
import { CKM, CKO } from './constants.js';
import { CURVES } from './curves.js';
import { type KeySpec, type KeyUsage, keyTypeOf } from './key-spec.js';

/** 'never': the key cannot leave the token. 'wrap-with-trusted': only wrapped by a trusted key. */
export type ExportPolicy = 'never' | 'wrap-with-trusted';

export interface KeyTemplateOptions {
  id: Buffer;
  label?: string | undefined;
  usages: readonly KeyUsage[];
  exportPolicy: ExportPolicy;
  /** A session object that disappears with the session (never for stored keys). */
  ephemeral: boolean;
}

function secretPartAttributes(options: KeyTemplateOptions): Attributes {
  const wrapOnly = options.exportPolicy === 'wrap-with-trusted';
  return {
    token: !options.ephemeral,
    private: true,
    sensitive: true,
    extractable: wrapOnly,
    ...(wrapOnly ? { wrapWithTrusted: true } : {}),
    id: options.id,
    ...(options.label === undefined ? {} : { label: options.label }),
  };
}

function usageFlags(usages: readonly KeyUsage[], allowed: readonly KeyUsage[]): Attributes {
  const flags: Attributes = {};
  for (const usage of allowed) flags[usage] = usages.includes(usage);
  return flags;
}

export interface SecretKeyTemplate {
  mechanism: NativeMechanism;
  template: ReturnType<typeof toNativeTemplate>;
}

export function secretKeyTemplate(spec: Extract<KeySpec, { type: 'aes' | 'generic-secret' }>, options: KeyTemplateOptions): SecretKeyTemplate {
  const mechanism = spec.type === 'aes' ? CKM.AES_KEY_GEN : CKM.GENERIC_SECRET_KEY_GEN;
  return {
    mechanism: { type: mechanism },
    template: toNativeTemplate({
      class: CKO.SECRET_KEY,
      keyType: keyTypeOf(spec),
      valueLen: spec.bits / 8,
      ...secretPartAttributes(options),
      ...usageFlags(options.usages, ['encrypt', 'decrypt', 'wrap', 'unwrap', 'sign', 'verify', 'derive']),
    }),
  };
}

export interface KeyPairTemplate {
  mechanism: NativeMechanism;
  publicTemplate: ReturnType<typeof toNativeTemplate>;
  privateTemplate: ReturnType<typeof toNativeTemplate>;
}

const RSA_PUBLIC_EXPONENT = Buffer.from([0x01, 0x00, 0x01]);

export function keyPairTemplate(spec: Extract<KeySpec, { type: 'rsa' | 'ec' }>, options: KeyTemplateOptions): KeyPairTemplate {
  const publicUsages: KeyUsage[] = spec.type === 'rsa' ? ['verify', 'encrypt', 'wrap'] : ['verify'];
  const privateUsages: KeyUsage[] = spec.type === 'rsa' ? ['sign', 'decrypt', 'unwrap'] : ['sign', 'derive'];
  const common: Attributes = {
    token: !options.ephemeral,
    keyType: keyTypeOf(spec),
    id: options.id,
    ...(options.label === undefined ? {} : { label: options.label }),
  };
  const publicShape: Attributes =
    spec.type === 'rsa' ? { modulusBits: spec.bits, publicExponent: RSA_PUBLIC_EXPONENT } : { ecParams: CURVES[spec.curve].params };
  return {
    mechanism: { type: spec.type === 'rsa' ? CKM.RSA_PKCS_KEY_PAIR_GEN : CKM.EC_KEY_PAIR_GEN },
    publicTemplate: toNativeTemplate({
      class: CKO.PUBLIC_KEY,
      ...common,
      private: false,
      ...publicShape,
      ...usageFlags(options.usages, publicUsages),
    }),
    privateTemplate: toNativeTemplate({
      class: CKO.PRIVATE_KEY,
      ...common,
      ...secretPartAttributes(options),
      ...usageFlags(options.usages, privateUsages),
    }),
  };
}
