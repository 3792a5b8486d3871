// Loads our PKCS#11 addon (a prebuild when one matches, else the local build) and types its surface.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;

/** The package root: this file sits at src/native/ (sources) or dist/native/ (build). */
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Version {
  major: number;
  minor: number;
}

export interface ModuleInfo {
  cryptokiVersion: Version;
  manufacturerId: string;
  flags: number;
  libraryDescription: string;
  libraryVersion: Version;
}

export interface SlotInfo {
  slotDescription: string;
  manufacturerId: string;
  flags: number;
  hardwareVersion: Version;
  firmwareVersion: Version;
}

export interface TokenInfo {
  label: string;
  manufacturerId: string;
  model: string;
  serialNumber: string;
  flags: number;
  maxSessionCount: number;
  sessionCount: number;
  maxRwSessionCount: number;
  rwSessionCount: number;
  maxPinLen: number;
  minPinLen: number;
  hardwareVersion: Version;
  firmwareVersion: Version;
}

export interface MechanismInfo {
  minKeySize: number;
  maxKeySize: number;
  flags: number;
}

/** One attribute of a template: booleans become CK_BBOOL, numbers CK_ULONG, strings UTF-8. */
export interface NativeAttribute {
  type: number;
  value: boolean | number | Uint8Array | string;
}

export interface OaepParameters {
  hashAlg: number;
  mgf: number;
  /** Label (CKZ_DATA_SPECIFIED); omitted = no label. */
  source?: Uint8Array;
}

export type NativeMechanism =
  | { type: number; parameter?: Uint8Array }
  | { type: number; oaep: OaepParameters }
  | { type: number; pss: { hashAlg: number; mgf: number; saltLength: number } }
  | { type: number; gcm: { iv: Uint8Array; aad?: Uint8Array; tagBits: number } }
  | { type: number; rsaAesKeyWrap: { aesKeyBits: number; oaep: OaepParameters } }
  /** CK_ECDH1_DERIVE_PARAMS: the peer's public point (uncompressed, or DER OCTET STRING around it). */
  | { type: number; ecdh1: { kdf: number; publicData: Uint8Array; sharedData?: Uint8Array } };

/** What a call returns: the value itself when run inline, else a promise for it. */
export type Settled<I extends boolean, T> = I extends true ? T : Promise<T>;

/**
 * One call on a session as the token layer schedules it: the method name, then its arguments
 * from the session on (without the trailing `inline`).
 */
export type SessionCall =
  | ['encrypt' | 'decrypt' | 'sign', session: number, mechanism: NativeMechanism, key: number, data: Uint8Array]
  | ['verify', session: number, mechanism: NativeMechanism, key: number, data: Uint8Array, signature: Uint8Array]
  | ['digest', session: number, mechanism: NativeMechanism, data: Uint8Array]
  | ['wrapKey', session: number, mechanism: NativeMechanism, wrappingKey: number, key: number]
  | ['unwrapKey', session: number, mechanism: NativeMechanism, unwrappingKey: number, wrappedKey: Uint8Array, template: NativeAttribute[]]
  | ['deriveKey', session: number, mechanism: NativeMechanism, baseKey: number, template: NativeAttribute[]]
  | ['generateRandom', session: number, length: number]
  | ['generateKey', session: number, mechanism: NativeMechanism, template: NativeAttribute[]]
  | ['generateKeyPair', session: number, mechanism: NativeMechanism, publicTemplate: NativeAttribute[], privateTemplate: NativeAttribute[]]
  | ['createObject', session: number, template: NativeAttribute[]]
  | ['copyObject', session: number, handle: number, template: NativeAttribute[]]
  | ['destroyObject', session: number, handle: number]
  | ['findObjects', session: number, template: NativeAttribute[]]
  | ['getAttributeValue', session: number, handle: number, types: number[]]
  | ['setAttributeValue', session: number, handle: number, template: NativeAttribute[]];

/**
 * One loaded PKCS#11 module. Methods with a trailing `inline` argument run on the libuv thread
 * pool and return a promise, unless `inline` is true: then they run at once on the calling thread
 * and return their value (or throw), for operations cheaper than a thread-pool hop.
 */
export interface NativeModule {
  readonly path: string;
  initialize(): void;
  finalize(): void;
  getInfo(): ModuleInfo;
  getSlotList(tokenPresent: boolean): number[];
  getSlotInfo(slot: number): SlotInfo;
  getTokenInfo(slot: number): Promise<TokenInfo>;
  getMechanismList(slot: number): number[];
  getMechanismInfo(slot: number, type: number): MechanismInfo;
  initToken(slot: number, soPin: string | Uint8Array, label: string): Promise<void>;
  initPin(session: number, pin: string | Uint8Array): Promise<void>;
  setPin(session: number, oldPin: string | Uint8Array, newPin: string | Uint8Array): Promise<void>;
  openSession(slot: number, flags?: number): number;
  closeSession(session: number): void;
  closeAllSessions(slot: number): void;
  login(session: number, userType: number, pin: string | Uint8Array): Promise<void>;
  logout(session: number): void;
  generateRandom<I extends boolean = false>(session: number, length: number, inline?: I): Settled<I, Buffer>;

  createObject<I extends boolean = false>(session: number, template: NativeAttribute[], inline?: I): Settled<I, number>;
  /** C_CopyObject: a new object with the attributes of `handle`, changed by `template`; its handle. */
  copyObject<I extends boolean = false>(session: number, handle: number, template: NativeAttribute[], inline?: I): Settled<I, number>;
  findObjects<I extends boolean = false>(session: number, template: NativeAttribute[], inline?: I): Settled<I, number[]>;
  getAttributeValue<I extends boolean = false>(session: number, handle: number, types: number[], inline?: I): Settled<I, Buffer[]>;
  setAttributeValue<I extends boolean = false>(session: number, handle: number, template: NativeAttribute[], inline?: I): Settled<I, void>;
  destroyObject<I extends boolean = false>(session: number, handle: number, inline?: I): Settled<I, void>;
  generateKey<I extends boolean = false>(session: number, mechanism: NativeMechanism, template: NativeAttribute[], inline?: I): Settled<I, number>;
  generateKeyPair<I extends boolean = false>(
    session: number,
    mechanism: NativeMechanism,
    publicTemplate: NativeAttribute[],
    privateTemplate: NativeAttribute[],
    inline?: I,
  ): Settled<I, { publicKey: number; privateKey: number }>;

  encrypt<I extends boolean = false>(session: number, mechanism: NativeMechanism, key: number, data: Uint8Array, inline?: I): Settled<I, Buffer>;
  decrypt<I extends boolean = false>(session: number, mechanism: NativeMechanism, key: number, data: Uint8Array, inline?: I): Settled<I, Buffer>;
  sign<I extends boolean = false>(session: number, mechanism: NativeMechanism, key: number, data: Uint8Array, inline?: I): Settled<I, Buffer>;
  verify<I extends boolean = false>(
    session: number,
    mechanism: NativeMechanism,
    key: number,
    data: Uint8Array,
    signature: Uint8Array,
    inline?: I,
  ): Settled<I, boolean>;
  digest<I extends boolean = false>(session: number, mechanism: NativeMechanism, data: Uint8Array, inline?: I): Settled<I, Buffer>;
  wrapKey<I extends boolean = false>(session: number, mechanism: NativeMechanism, wrappingKey: number, key: number, inline?: I): Settled<I, Buffer>;
  unwrapKey<I extends boolean = false>(
    session: number,
    mechanism: NativeMechanism,
    unwrappingKey: number,
    wrappedKey: Uint8Array,
    template: NativeAttribute[],
    inline?: I,
  ): Settled<I, number>;
  /** C_DeriveKey: a new object derived from `baseKey`; its handle. */
  deriveKey<I extends boolean = false>(session: number, mechanism: NativeMechanism, baseKey: number, template: NativeAttribute[], inline?: I): Settled<I, number>;
}

interface Addon {
  Module: new (path: string) => NativeModule;
}

let addon: Addon | undefined;

function loadAddon(): Addon {
  addon ??= nodeGypBuild(packageRoot) as Addon;
  return addon;
}

/**
 * dlopens a PKCS#11 module. Throws an Error with code ERR_MODULE_NOT_FOUND, ERR_MODULE_LOAD or
 * ERR_NOT_PKCS11 when the file is missing, cannot be loaded, or is not a PKCS#11 library.
 */
export function loadNativeModule(modulePath: string): NativeModule {
  return new (loadAddon().Module)(modulePath);
}
