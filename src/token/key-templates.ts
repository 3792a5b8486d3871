// Attribute templates for every key the token layer creates. Private and secret keys are always
// token objects (unless ephemeral), private, sensitive and not extractable, except that a caller
// may ask for wrap-only export: extractable, but only under a CKA_TRUSTED wrapping key.
import type { NativeAttribute, NativeMechanism } from '../native/addon.js';
import { type Attributes, toNativeTemplate } from './attributes.js';
import { CKA, CKM, CKO } from './constants.js';
import { type CurveName, CURVES } from './curves.js';
import { type KeySpec, type KeyUsage, isKeyPair, keyTypeOf } from './key-spec.js';

/**
 * 'never': the key cannot leave the token. 'wrap-with-trusted': only wrapped by a trusted key.
 * 'extractable-session': wrappable by any key, for session objects only (the ephemeral AES key
 * that carries a BYOK target out of a source HSM, wrapped under the target HSM's KEK).
 */
export type ExportPolicy = 'never' | 'wrap-with-trusted' | 'extractable-session';

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
    extractable: wrapOnly || options.exportPolicy === 'extractable-session',
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
    spec.type === 'rsa' ? { modulusBits: spec.bits, publicExponent: spec.publicExponent === 3 ? Buffer.from([3]) : RSA_PUBLIC_EXPONENT } : { ecParams: CURVES[spec.curve].params };
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

/** Key material handed to the token on import; it is copied into token objects and nowhere else. */
export type KeyMaterial =
  | {
      type: 'rsa';
      modulus: Buffer;
      publicExponent: Buffer;
      privateExponent: Buffer;
      prime1: Buffer;
      prime2: Buffer;
      exponent1: Buffer;
      exponent2: Buffer;
      coefficient: Buffer;
    }
  /** `point` is the uncompressed public point 04 || X || Y. */
  | { type: 'ec'; curve: CurveName; privateValue: Buffer; point: Buffer }
  | { type: 'secret'; value: Buffer };

export interface ImportTemplate {
  /** The public object of a key pair (created first), if any. */
  publicTemplate?: ReturnType<typeof toNativeTemplate>;
  secretTemplate: ReturnType<typeof toNativeTemplate>;
}

/** A key pair's public object from known public values (imported or restored), not generated ones. */
export function publicObjectTemplate(
  spec: Extract<KeySpec, { type: 'rsa' | 'ec' }>,
  options: KeyTemplateOptions,
  values: { type: 'rsa'; modulus: Buffer; publicExponent: Buffer } | { type: 'ec'; point: Buffer },
): NativeAttribute[] {
  const generated = new Set<number>([CKA.MODULUS_BITS, CKA.PUBLIC_EXPONENT]);
  const known =
    values.type === 'rsa'
      ? toNativeTemplate({ modulus: values.modulus, publicExponent: values.publicExponent })
      : toNativeTemplate({ ecPoint: derOctetString(values.point) });
  return [...keyPairTemplate(spec, options).publicTemplate.filter((attribute) => !generated.has(attribute.type)), ...known];
}

/** DER OCTET STRING around a public point, the encoding of CKA_EC_POINT. */
function derOctetString(value: Buffer): Buffer {
  const length = value.length < 0x80 ? Buffer.from([value.length]) : Buffer.from([0x81, value.length]);
  return Buffer.concat([Buffer.from([0x04]), length, value]);
}

/** Throws a TypeError naming the mismatch when the material is not a key of this spec. */
function checkMaterial(spec: KeySpec, material: KeyMaterial): void {
  if (material.type === 'secret') {
    if (spec.type !== 'aes' && spec.type !== 'generic-secret') throw new TypeError(`secret material does not fit a ${spec.type} key`);
    if (material.value.length * 8 !== spec.bits) throw new TypeError(`a ${spec.bits}-bit key needs ${spec.bits / 8} bytes, not ${material.value.length}`);
    return;
  }
  if (spec.type !== material.type) throw new TypeError(`${material.type} material does not fit a ${spec.type} key`);
  if (material.type === 'ec' && spec.type === 'ec') {
    const size = CURVES[spec.curve].fieldBytes;
    if (material.curve !== spec.curve) throw new TypeError(`${material.curve} material does not fit a ${spec.curve} key`);
    if (material.privateValue.length !== size) throw new TypeError(`a ${spec.curve} private value must be ${size} bytes`);
    if (material.point.length !== 1 + 2 * size || material.point[0] !== 0x04) {
      throw new TypeError(`a ${spec.curve} public point must be 04 || X || Y, ${1 + 2 * size} bytes`);
    }
  }
  if (material.type === 'rsa' && spec.type === 'rsa') {
    const bits = material.modulus.length * 8 - Math.clz32(material.modulus[0] ?? 0) + 24;
    if (bits !== spec.bits) throw new TypeError(`a modulus of ${bits} bits does not fit an RSA-${spec.bits} key`);
  }
}

export function importTemplate(spec: KeySpec, material: KeyMaterial, options: KeyTemplateOptions): ImportTemplate {
  checkMaterial(spec, material);
  if (material.type === 'secret') {
    if (spec.type !== 'aes' && spec.type !== 'generic-secret') throw new TypeError(`secret material does not fit a ${spec.type} key`);
    const { template } = secretKeyTemplate(spec, options);
    return { secretTemplate: [...template.filter((a) => a.type !== CKA.VALUE_LEN), ...toNativeTemplate({ value: material.value })] };
  }
  if (!isKeyPair(spec) || spec.type !== material.type) throw new TypeError(`${material.type} material does not fit a ${spec.type} spec`);
  const { privateTemplate } = keyPairTemplate(spec, options);
  const publicTemplate = publicObjectTemplate(spec, options, material);
  if (material.type === 'rsa') {
    return {
      publicTemplate,
      secretTemplate: [
        ...privateTemplate,
        ...toNativeTemplate({ modulus: material.modulus, publicExponent: material.publicExponent }),
        ...toNativeTemplate({
          privateExponent: material.privateExponent,
          prime1: material.prime1,
          prime2: material.prime2,
          exponent1: material.exponent1,
          exponent2: material.exponent2,
          coefficient: material.coefficient,
        }),
      ],
    };
  }
  return {
    publicTemplate,
    secretTemplate: [...privateTemplate, ...toNativeTemplate({ ecParams: CURVES[material.curve].params, value: material.privateValue })],
  };
}
