// A PKCS#11 token opened by label, with a pool of logged-in sessions. Keys are named by
// CKA_CLASS + CKA_ID; object handles are cached here and never leave this class.
import { randomBytes } from 'node:crypto';
import type { NativeMechanism, NativeModule, SessionCall } from '../native/addon.js';
import { isPkcs11Error } from '../native/errors.js';
import { type AttributeName, attributeTypes, decodeAttributes, toNativeTemplate } from './attributes.js';
import { Capabilities } from './capabilities.js';
import { CKA, CKF, CKK, CKM, CKO, CKU } from './constants.js';
import { type CurveName, CURVES, curveByParams, uncompressedPoint } from './curves.js';
import { PARITY_DIGEST, generatorPoint, pointsWithX, verifiesUnder } from './ec-public-point.js';
import { type CallCost, CallScheduler } from './call-scheduler.js';
import { type TokenOperation, costOf } from './call-cost.js';
import { TokenError, isHandleInvalid, isSessionLost, tokenFailureCode } from './errors.js';
import {
  type KeySpec,
  type KeyUsage,
  type TokenKey,
  defaultUsages,
  isKeyPair,
  modulusBits,
  publicClassOf,
  secretClassOf,
  validateKeySpec,
} from './key-spec.js';
import { type ExportPolicy, type KeyMaterial, type KeyTemplateOptions, importTemplate, keyPairTemplate, publicObjectTemplate, secretKeyTemplate } from './key-templates.js';
import { acquireModule, releaseModule } from './module-registry.js';
import { trustedKeyTemplate } from './trusted-wrapping-key.js';
import { SessionPool } from './session-pool.js';

export interface TokenOptions {
  modulePath: string;
  label: string;
  pin: string | Buffer;
  /** Sessions for worker-thread calls; defaults to the libuv pool size. */
  sessions?: number;
}

export interface TokenDescription {
  slot: number;
  label: string;
  manufacturerId: string;
  model: string;
  serialNumber: string;
  library: { path: string; description: string; manufacturerId: string; version: string };
}

export interface GenerateKeyOptions {
  id?: Buffer;
  label?: string;
  usages?: readonly KeyUsage[];
  exportPolicy?: ExportPolicy;
  ephemeral?: boolean;
}

export type PublicKeyParts =
  | { type: 'rsa'; modulus: Buffer; publicExponent: Buffer }
  | { type: 'ec'; curve: CurveName; point: Buffer };

/** The protection attributes of a key's secret part, as the token reports them. */
export interface KeyProtection {
  token: boolean;
  private: boolean;
  sensitive: boolean;
  extractable: boolean;
  alwaysSensitive: boolean;
  neverExtractable: boolean;
  wrapWithTrusted: boolean;
}

/** The shape of a key's secret part, as the token reports it. */
export interface SecretShape {
  keyType: number;
  modulus?: Buffer;
  publicExponent?: Buffer;
  curve?: CurveName | undefined;
  valueLen?: number;
}

/** What a key attestation states of each of a key's objects, read from the token at the time. */
const COMMON_STATED = ['class', 'keyType', 'token', 'private', 'local', 'modifiable', 'copyable', 'destroyable', 'derive'] as const satisfies readonly AttributeName[];
const PROTECTED_STATED = ['sensitive', 'extractable', 'alwaysSensitive', 'neverExtractable', 'wrapWithTrusted'] as const satisfies readonly AttributeName[];
const PRIVATE_STATED = [...COMMON_STATED, ...PROTECTED_STATED, 'decrypt', 'sign', 'unwrap'] as const satisfies readonly AttributeName[];
const PUBLIC_STATED = [...COMMON_STATED, 'encrypt', 'verify', 'wrap'] as const satisfies readonly AttributeName[];
const SECRET_STATED = [...PRIVATE_STATED, 'encrypt', 'verify', 'wrap', 'valueLen'] as const satisfies readonly AttributeName[];

/**
 * Attributes by name (attributes.ts) as an object states them, with its size where it has one:
 * CKA_MODULUS_BITS (RSA public key), CKA_MODULUS (RSA private key), CKA_VALUE_LEN (secret key),
 * CKA_EC_PARAMS (EC keys).
 */
export type StatedAttributes = Partial<Record<(typeof SECRET_STATED)[number] | 'modulusBits' | 'modulus' | 'ecParams', boolean | number | Buffer>>;

const PROTECTION_ATTRIBUTES = [
  'token',
  'private',
  'sensitive',
  'extractable',
  'alwaysSensitive',
  'neverExtractable',
  'wrapWithTrusted',
] as const satisfies readonly AttributeName[];

type ObjectRef = readonly [objectClass: number, id: Buffer];
/** An object a call just made: its class and handle. */
type MadeObject = readonly [objectClass: number, handle: number];
/** Builds a call from the handles of the objects it names and the session it will run on. */
type ObjectCallBuilder = (handles: number[], session: number) => SessionCall;

/** What C_CopyObject changes when a generated session object becomes a token object. */
const TO_TOKEN_OBJECT = toNativeTemplate({ token: true });

/** CKD_NULL: the raw ECDH shared secret, x of the product point. */
const CKD_NULL = 0x1;

/** The unwrapped value's length comes from the wrapped data, not the template. */
const UNWRAP_EXCLUDED: ReadonlySet<number> = new Set([CKA.VALUE_LEN]);

/** The options every key template takes, with the token layer's defaults filled in. */
function templateOptionsOf(spec: KeySpec, options: GenerateKeyOptions): KeyTemplateOptions {
  // Checked here, on the caller's options: generation makes session objects first and copies them.
  if (options.exportPolicy === 'extractable-session' && !options.ephemeral) throw new RangeError('an extractable key must be a session object');
  return {
    id: options.id ?? randomBytes(16),
    label: options.label,
    usages: options.usages ?? defaultUsages(spec),
    exportPolicy: options.exportPolicy ?? 'never',
    ephemeral: options.ephemeral ?? false,
  };
}

/** What a module answers when it will not make a session key, or copy one into a token object. */
const COPY_PATH_REFUSALS = new Set(['CKR_FUNCTION_NOT_SUPPORTED', 'CKR_TEMPLATE_INCONSISTENT', 'CKR_ATTRIBUTE_VALUE_INVALID', 'CKR_ACTION_PROHIBITED']);
function refusesCopyPath(error: unknown): boolean {
  const code = tokenFailureCode(error);
  return code !== undefined && COPY_PATH_REFUSALS.has(code);
}

function defaultSessionCount(): number {
  const configured = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10);
  return Number.isInteger(configured) && configured > 0 ? configured : 4;
}

async function findSlotByLabel(module: NativeModule, label: string): Promise<number> {
  const seen: string[] = [];
  for (const slot of module.getSlotList(true)) {
    const info = await module.getTokenInfo(slot);
    if ((info.flags & CKF.TOKEN_INITIALIZED) === 0) continue;
    if (info.label === label) return slot;
    seen.push(info.label);
  }
  const found = seen.length > 0 ? seen.map((name) => `'${name}'`).join(', ') : 'none';
  throw new TokenError('TOKEN_NOT_FOUND', `no token labelled '${label}' in ${module.path} (tokens found: ${found})`);
}

/** Told as a long destroy goes (Token.destroyLabelledObjectsWithIds). */
export interface DestroyProgress {
  /** After each object destroyed. */
  destroyed?: (id: Buffer) => void;
  /** Asked before each object: true stops the destroy there. */
  stopped?: () => boolean;
}

export class Token {
  readonly #module: NativeModule;
  readonly #slot: number;
  readonly #pin: Buffer;
  readonly #pool = new SessionPool([]);
  readonly #scheduler: CallScheduler;
  readonly #handles = new Map<string, number>();
  #sessions: number[] = [];
  #inlineSession = -1;
  #recovering: Promise<void> | undefined;
  #recoveries = 0;
  #closed = false;
  /** Token-object destroys under way (see #destroyTokenObject). */
  #destroys = 0;
  /** The tail of the queue of token-object writes (see #writing). */
  #writes: Promise<unknown> = Promise.resolve();

  readonly description: TokenDescription;
  readonly capabilities: Capabilities;

  private constructor(
    module: NativeModule,
    slot: number,
    pin: Buffer,
    sessions: number[],
    description: TokenDescription,
  ) {
    this.#module = module;
    this.#slot = slot;
    this.#pin = pin;
    this.#scheduler = new CallScheduler(module, this.#pool, () => this.#inlineSession, () => this.#destroys === 0);
    this.#useSessions(sessions);
    this.description = description;
    this.capabilities = Capabilities.probe(module, slot);
  }

  /**
   * Loads the module (once per process), finds the token by label, opens the sessions and logs
   * in. Throws TokenError MODULE_UNAVAILABLE, TOKEN_NOT_FOUND or PIN_INCORRECT.
   */
  static async open(options: TokenOptions): Promise<Token> {
    const module = acquireModule(options.modulePath);
    const sessions: number[] = [];
    try {
      const slot = await findSlotByLabel(module, options.label);
      const pin = Buffer.from(options.pin);
      const count = 1 + (options.sessions ?? defaultSessionCount());
      for (let i = 0; i < count; i++) sessions.push(module.openSession(slot, CKF.RW_SESSION));
      await Token.#login(module, sessions[0] ?? -1, pin, options.label);
      const info = await module.getTokenInfo(slot);
      const library = module.getInfo();
      const description: TokenDescription = {
        slot,
        label: info.label,
        manufacturerId: info.manufacturerId,
        model: info.model,
        serialNumber: info.serialNumber,
        library: {
          path: module.path,
          description: library.libraryDescription,
          manufacturerId: library.manufacturerId,
          version: `${library.libraryVersion.major}.${library.libraryVersion.minor}`,
        },
      };
      return new Token(module, slot, pin, sessions, description);
    } catch (error) {
      for (const session of sessions) {
        try {
          module.closeSession(session);
        } catch {
          // the session is gone either way
        }
      }
      releaseModule(module);
      throw error;
    }
  }

  static async #login(module: NativeModule, session: number, pin: Buffer, label: string): Promise<void> {
    try {
      await module.login(session, CKU.USER, pin);
    } catch (error) {
      if (isPkcs11Error(error, 'CKR_USER_ALREADY_LOGGED_IN')) return;
      if (isPkcs11Error(error, 'CKR_PIN_INCORRECT') || isPkcs11Error(error, 'CKR_PIN_LEN_RANGE')) {
        throw new TokenError('PIN_INCORRECT', `login to token '${label}' failed: wrong PIN`, { cause: error });
      }
      if (isPkcs11Error(error, 'CKR_PIN_LOCKED')) {
        throw new TokenError('PIN_INCORRECT', `login to token '${label}' failed: the PIN is locked`, { cause: error });
      }
      throw error;
    }
  }

  /** How often the token dropped our sessions and they were reopened. */
  get sessionRecoveries(): number {
    return this.#recoveries;
  }

  // ---- keys -------------------------------------------------------------------------------

  /** Set once the module refused the session-object-and-copy path and in-place generation worked. */
  #generatesInPlace = false;

  /**
   * Generates a key. A stored key is generated as session objects first, concurrently with other
   * work on a pooled session (an RSA-4096 pair takes seconds), and only then copied into token
   * objects: the copy is the token-object write, and only it waits for other writes (#writing).
   */
  async generateKey(spec: KeySpec, options: GenerateKeyOptions = {}): Promise<TokenKey> {
    validateKeySpec(spec);
    const templateOptions = templateOptionsOf(spec, options);
    const { id, ephemeral } = templateOptions;
    for (let attempt = 0; ; attempt++) {
      const generation = this.#pool.generation;
      const kept: MadeObject[] = [];
      try {
        if (ephemeral) kept.push(...(await this.#generateObjects(spec, templateOptions, costOf({ operation: 'generate', key: spec }))));
        else await this.#generateTokenObjects(spec, templateOptions, generation, kept);
        for (const [objectClass, handle] of kept) this.#remember(generation, objectClass, id, handle);
        return ephemeral ? { id, spec, ephemeral } : { id, spec };
      } catch (error) {
        // After a session loss, once more on new sessions, unless a token object was made already.
        const lost = isSessionLost(error) || this.#pool.generation !== generation;
        if (attempt > 0 || kept.length > 0 || !lost) throw error;
        await this.#recover(generation);
      }
    }
  }

  /** One C_GenerateKey(Pair) with these templates; the objects it made. */
  async #generateObjects(spec: KeySpec, options: KeyTemplateOptions, cost: CallCost): Promise<MadeObject[]> {
    if (isKeyPair(spec)) {
      const { mechanism, publicTemplate, privateTemplate } = keyPairTemplate(spec, options);
      const pair = await this.#scheduled<{ publicKey: number; privateKey: number }>(cost, (s) => [
        'generateKeyPair',
        s,
        mechanism,
        publicTemplate,
        privateTemplate,
      ]);
      return [
        [publicClassOf(spec), pair.publicKey],
        [secretClassOf(spec), pair.privateKey],
      ];
    }
    const { mechanism, template } = secretKeyTemplate(spec, options);
    return [[secretClassOf(spec), await this.#scheduled<number>(cost, (s) => ['generateKey', s, mechanism, template])]];
  }

  /**
   * Generates the key as session objects with the stored key's templates but CKA_TOKEN false
   * (outside #writing), then, as one token-object write, copies each into a token object and
   * destroys the session objects, whatever happened. The copies' handles go into `copies`.
   * SoftHSM2 2.6.1 keeps every attribute through C_CopyObject (protections, CKA_LOCAL,
   * CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_KEY_GEN_MECHANISM), refuses a copy that would
   * weaken a protection, and lets any session of the application copy a session object.
   */
  async #generateTokenObjects(spec: KeySpec, options: KeyTemplateOptions, generation: number, copies: MadeObject[]): Promise<void> {
    if (!this.#generatesInPlace) {
      try {
        await this.#generateAndCopy(spec, options, generation, copies);
        return;
      } catch (error) {
        if (!refusesCopyPath(error)) throw error;
      }
    }
    // A module that makes no session key of this kind, or cannot copy one into a token object (a
    // vendor HSM's policy; libmhsm-pkcs11.so, whose keys all live in the HSM): the token objects
    // are generated in place, as a write. Kept for the next key once it has worked.
    await this.#writing(true, async () => {
      copies.push(...(await this.#generateObjects(spec, options, 'heavy')));
    });
    this.#generatesInPlace = true;
  }

  async #generateAndCopy(spec: KeySpec, options: KeyTemplateOptions, generation: number, copies: MadeObject[]): Promise<void> {
    const made = await this.#generateObjects(spec, { ...options, ephemeral: true }, 'heavy');
    await this.#writing(true, async () => {
      try {
        try {
          for (const [objectClass, handle] of made) {
            // Session objects die with their sessions; a renewed session may reuse their handles.
            if (this.#pool.generation !== generation) throw new Error('the token sessions were renewed while a key was being generated');
            copies.push([objectClass, await this.#scheduled<number>('heavy', (s) => ['copyObject', s, handle, TO_TOKEN_OBJECT])]);
          }
        } finally {
          await this.#destroySessionObjects(made, generation);
        }
      } catch (error) {
        // No half-written key: remove the copies made before the failure (the caller reports it).
        if (this.#pool.generation === generation) {
          for (const [, handle] of copies.splice(0)) await this.#run('heavy', (s) => ['destroyObject', s, handle]).catch(() => undefined);
        }
        throw error;
      }
    });
  }

  /** Destroys session objects by handle; those of renewed sessions are gone already. */
  async #destroySessionObjects(made: readonly MadeObject[], generation: number): Promise<void> {
    let failure: unknown;
    for (const [, handle] of made) {
      if (this.#pool.generation !== generation) return;
      try {
        await this.#scheduled('cheap', (s) => ['destroyObject', s, handle]);
      } catch (error) {
        if (!isSessionLost(error)) failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /**
   * Creates a key from material the caller holds (a JWK import): the material goes into token
   * objects with the same protections as a generated key and is kept nowhere else.
   */
  async importKey(spec: KeySpec, material: KeyMaterial, options: GenerateKeyOptions = {}): Promise<TokenKey> {
    validateKeySpec(spec);
    const ephemeral = options.ephemeral ?? false;
    const templateOptions = templateOptionsOf(spec, options);
    const { id } = templateOptions;
    const { publicTemplate, secretTemplate } = importTemplate(spec, material, templateOptions);
    const cost = costOf({ operation: 'generate', key: spec, writesTokenObject: !ephemeral });
    const generation = this.#pool.generation;
    const created = await this.#writing(!ephemeral, async () => {
      if (publicTemplate) {
        const handle = await this.#run<number>(cost, (s) => ['createObject', s, publicTemplate]);
        this.#remember(generation, publicClassOf(spec), id, handle);
      }
      try {
        const handle = await this.#run<number>(cost, (s) => ['createObject', s, secretTemplate]);
        this.#remember(generation, secretClassOf(spec), id, handle);
        return undefined;
      } catch (error) {
        return error;
      }
    });
    if (created !== undefined) {
      // No half-written key: remove the public part when the private part was refused.
      if (publicTemplate) await this.destroyKey({ id, spec, ...(ephemeral ? { ephemeral } : {}) }).catch(() => undefined);
      throw created;
    }
    return ephemeral ? { id, spec, ephemeral } : { id, spec };
  }

  /** Destroys every object of the key; returns false if the token had none. */
  async destroyKey(key: TokenKey): Promise<boolean> {
    const classes = isKeyPair(key.spec) ? [publicClassOf(key.spec), secretClassOf(key.spec)] : [secretClassOf(key.spec)];
    if (key.ephemeral) return this.#destroyEphemeral(key, classes);
    // A key's objects are exactly those with its CKA_ID: the handles known for them, or a search.
    const known = this.#cachedHandles(classes.map((objectClass): ObjectRef => [objectClass, key.id]));
    if (known) {
      try {
        await this.#writing(true, async () => {
          for (const handle of known) await this.#destroyTokenObject(handle);
        });
        this.#forget(key.id);
        return true;
      } catch (error) {
        if (!isHandleInvalid(error)) throw error;
        this.#handles.clear(); // renumbered: the search below finds what is left
      }
    }
    return (await this.destroyObjectsWithId(key.id)) > 0;
  }

  /** Destroys every object, of any class, with this CKA_ID; returns how many there were. */
  async destroyObjectsWithId(id: Buffer): Promise<number> {
    const template = toNativeTemplate({ id });
    const handles = await this.#writing(true, async () => {
      const found = await this.#run<number[]>('heavy', (s) => ['findObjects', s, template]);
      for (const handle of found) await this.#destroyTokenObject(handle);
      return found;
    });
    this.#forget(id);
    return handles.length;
  }

  /**
   * Destroys every token object with this label whose CKA_ID is one of `ids`, with one search for
   * all of them: a search per key would cost a scan of the token each (SoftHSM2 searches
   * linearly), which for thousands of keys takes hours. Each destroy is a token-object write of
   * its own, so that other writes take their turns between two. Returns how many objects went.
   */
  async destroyLabelledObjectsWithIds(label: string, ids: readonly Buffer[], progress: DestroyProgress = {}): Promise<number> {
    if (ids.length === 0) return 0;
    const wanted = new Set(ids.map((id) => id.toString('hex')));
    for (const id of ids) this.#forget(id);
    const found = await this.#run<number[]>('heavy', (s) => ['findObjects', s, toNativeTemplate({ token: true, label })]);
    let count = 0;
    for (const handle of found) {
      if (progress.stopped?.()) break;
      // Each object is read and destroyed as one token-object write: SoftHSM2 answers
      // CKR_GENERAL_ERROR to a read of an object another thread is destroying. One that another
      // caller destroyed since the search is gone, wanted or not, and the rest go on.
      const destroyed = await this.#writing(true, async () => {
        try {
          const [id] = await this.#run<Buffer[]>('heavy', (s) => ['getAttributeValue', s, handle, attributeTypes(['id'])]);
          if (!id || !wanted.has(id.toString('hex'))) return undefined;
          await this.#destroyTokenObject(handle);
          return id;
        } catch (error) {
          if (isHandleInvalid(error)) return undefined;
          throw error;
        }
      });
      if (!destroyed) continue;
      progress.destroyed?.(destroyed);
      count++;
    }
    return count;
  }

  /** Session objects are destroyed by the handles remembered when they were made: no search. */
  async #destroyEphemeral(key: TokenKey, classes: number[]): Promise<boolean> {
    let destroyed = false;
    for (const objectClass of classes) {
      const cacheKey = this.#cacheKey(objectClass, key.id);
      const cached = this.#handles.get(cacheKey);
      this.#handles.delete(cacheKey);
      // The cache may have been cleared meanwhile (a handle another call found invalid): the
      // session object is still there, and is found by its id.
      const handles = cached !== undefined ? [cached] : await this.#run<number[]>('cheap', (s) => ['findObjects', s, toNativeTemplate({ class: objectClass, id: key.id, token: false })]);
      for (const handle of handles) {
        try {
          await this.#run('cheap', (s) => ['destroyObject', s, handle]);
          destroyed = true;
        } catch (error) {
          if (!isHandleInvalid(error)) throw error;
        }
      }
    }
    return destroyed;
  }

  /**
   * The CKA_IDs of the private and secret token objects that carry this label, so that a caller
   * can reconcile its records with the token without touching objects other software made.
   */
  async keyIdsLabelled(label: string): Promise<Buffer[]> {
    const ids = new Map<string, Buffer>();
    const generation = this.#pool.generation;
    // One search for every class, not one per class: SoftHSM2 searches linearly, a fifth of a
    // second among 10,000 keys, and reading the class of a public object found with them costs less.
    const handles = await this.#run<number[]>('heavy', (s) => ['findObjects', s, toNativeTemplate({ token: true, label })]);
    // Attributes of an object the module holds: cheap, inline. On a worker thread each read cost
    // a hop of its own, two seconds at start among 10,000 keys.
    for (const handle of handles) {
      let raw: Buffer[];
      try {
        raw = await this.#run<Buffer[]>('cheap', (s) => ['getAttributeValue', s, handle, attributeTypes(['class', 'id'])]);
      } catch (error) {
        // An object with the label that has no CKA_ID (a data object) is no key of ours.
        if (tokenFailureCode(error) === 'CKR_ATTRIBUTE_TYPE_INVALID') continue;
        throw error;
      }
      const { class: objectClass, id } = decodeAttributes(['class', 'id'], raw);
      if ((objectClass !== CKO.PRIVATE_KEY && objectClass !== CKO.SECRET_KEY) || id.length === 0) continue;
      ids.set(id.toString('hex'), id);
      // Found anyway: the first use of each key then needs no search of its own.
      this.#remember(generation, objectClass, id, handle);
    }
    return [...ids.values()];
  }

  /**
   * The one private or secret key object with this CKA_LABEL, as a key of the spec its attributes
   * say: how a tool names a key in a token it did not make (a source HSM for BYOK).
   */
  async keyLabelled(label: string): Promise<TokenKey> {
    const generation = this.#pool.generation;
    const found: Array<[number, number]> = [];
    for (const objectClass of [CKO.PRIVATE_KEY, CKO.SECRET_KEY]) {
      const handles = await this.#run<number[]>('heavy', (s) => ['findObjects', s, toNativeTemplate({ class: objectClass, label })]);
      for (const handle of handles) found.push([objectClass, handle]);
    }
    if (found.length !== 1) {
      throw new TokenError(found.length === 0 ? 'OBJECT_NOT_FOUND' : 'OBJECT_AMBIGUOUS', `${found.length} private or secret keys in token '${this.description.label}' have the label '${label}'`);
    }
    const [objectClass, handle] = found[0] as [number, number];
    const read = async <N extends AttributeName>(names: readonly N[]) =>
      decodeAttributes(names, await this.#run<Buffer[]>('heavy', (s) => ['getAttributeValue', s, handle, attributeTypes(names)]));
    const { id, keyType } = await read(['id', 'keyType'] as const);
    if (id.length === 0) throw new TokenError('OBJECT_NOT_FOUND', `the key labelled '${label}' has no CKA_ID; give it one (pkcs11-tool --id)`);
    let spec: KeySpec | undefined;
    if (objectClass === CKO.PRIVATE_KEY && keyType === CKK.RSA) {
      const { modulus } = await read(['modulus'] as const);
      spec = { type: 'rsa', bits: modulusBits(modulus) as 2048 };
    } else if (objectClass === CKO.PRIVATE_KEY && keyType === CKK.EC) {
      const curve = curveByParams((await read(['ecParams'] as const)).ecParams);
      if (curve) spec = { type: 'ec', curve };
    } else if (keyType === CKK.AES || keyType === CKK.GENERIC_SECRET) {
      const bits = (await read(['valueLen'] as const)).valueLen * 8;
      spec = keyType === CKK.AES ? { type: 'aes', bits: bits as 256 } : { type: 'generic-secret', bits };
    }
    if (!spec) throw new TokenError('OBJECT_NOT_FOUND', `the key labelled '${label}' is not an RSA, EC (P-256, P-384, P-521, secp256k1) or AES key`);
    validateKeySpec(spec);
    this.#remember(generation, objectClass, id, handle);
    return { id, spec };
  }

  /** Creates the public object of a key pair from its public parts (after its private part was unwrapped). */
  async createPublicKey(key: TokenKey, parts: PublicKeyParts, label?: string): Promise<void> {
    if (!isKeyPair(key.spec) || key.spec.type !== parts.type) throw new TypeError(`${parts.type} public parts do not fit a ${key.spec.type} key`);
    const options = templateOptionsOf(key.spec, { id: key.id, ...(label === undefined ? {} : { label }), ephemeral: key.ephemeral ?? false });
    const template = publicObjectTemplate(key.spec, options, parts);
    const generation = this.#pool.generation;
    const handle = await this.#run<number>(key.ephemeral ? 'cheap' : 'heavy', (s) => ['createObject', s, template]);
    this.#remember(generation, publicClassOf(key.spec), key.id, handle);
  }

  /**
   * Creates a CKA_TRUSTED AES-256 wrapping key with this value, as the security officer (only
   * the SO may set CKA_TRUSTED). PKCS#11 logs an application in as one user at a time, so the
   * user is logged out meanwhile and logged in again after: call it only while nothing else uses
   * the token (the security domain does, before the HSM is active). Throws TokenError
   * SO_PIN_INCORRECT for a wrong SO PIN.
   */
  async createTrustedKey(soPin: string | Buffer, key: TokenKey, label: string, value: Buffer): Promise<void> {
    const template = trustedKeyTemplate(key.id, label, value);
    await this.#writing(true, async () => {
      const session = this.#module.openSession(this.#slot, CKF.RW_SESSION);
      this.#module.logout(session);
      this.#handles.clear(); // handles of private objects die with the logout
      try {
        try {
          await this.#module.login(session, CKU.SO, soPin);
        } catch (error) {
          if (isPkcs11Error(error, 'CKR_PIN_INCORRECT') || isPkcs11Error(error, 'CKR_PIN_LEN_RANGE')) {
            throw new TokenError('SO_PIN_INCORRECT', `login to token '${this.description.label}' as security officer failed: wrong SO PIN`, { cause: error });
          }
          throw error;
        }
        try {
          await this.#module.createObject(session, template);
        } finally {
          this.#module.logout(session);
        }
      } finally {
        // A failed user login here would leave the token unusable: say so, but keep the first
        // error if there was one.
        try {
          await Token.#login(this.#module, session, this.#pin, this.description.label);
        } catch (error) {
          process.emitWarning(`the token's user could not log in again after the security officer's work: ${(error as Error).message}`);
        } finally {
          this.#module.closeSession(session);
        }
      }
    });
  }

  async hasKey(key: TokenKey): Promise<boolean> {
    const objectClass = secretClassOf(key.spec);
    // A handle found before (by keyIdsLabelled at start, say) is checked rather than searched
    // for again: a search reads every object of the token, a fifth of a second among 10,000 keys.
    const cacheKey = this.#cacheKey(objectClass, key.id);
    const cached = this.#handles.get(cacheKey);
    if (cached !== undefined) {
      try {
        const raw = await this.#run<Buffer[]>('cheap', (s) => ['getAttributeValue', s, cached, attributeTypes(['class', 'id'])]);
        const found = decodeAttributes(['class', 'id'], raw);
        if (found.class === objectClass && found.id.equals(key.id)) return true;
      } catch (error) {
        if (!isHandleInvalid(error)) throw error;
      }
      this.#handles.delete(cacheKey);
    }
    return (await this.#find(objectClass, key.id)).length > 0;
  }

  async publicKey(key: TokenKey): Promise<PublicKeyParts> {
    const spec = key.spec;
    if (!isKeyPair(spec)) throw new TypeError(`a ${spec.type} key has no public part`);
    if (spec.type === 'rsa') {
      const { modulus, publicExponent } = await this.#attributes(publicClassOf(spec), key.id, ['modulus', 'publicExponent']);
      return { type: 'rsa', modulus, publicExponent };
    }
    const { ecParams, ecPoint } = await this.#attributes(publicClassOf(spec), key.id, ['ecParams', 'ecPoint']);
    const curve = curveByParams(ecParams) ?? spec.curve;
    return { type: 'ec', curve, point: uncompressedPoint(ecPoint, curve) };
  }

  /**
   * What the secret part itself says of its shape (key type; an RSA key's modulus and exponent,
   * an EC key's curve, a secret key's length), to check material unwrapped into the token
   * against what it was declared to be.
   */
  async secretShape(key: TokenKey): Promise<SecretShape> {
    const objectClass = secretClassOf(key.spec);
    const { keyType } = await this.#attributes(objectClass, key.id, ['keyType']);
    if (key.spec.type === 'rsa') {
      const { modulus, publicExponent } = await this.#attributes(objectClass, key.id, ['modulus', 'publicExponent']);
      return { keyType, modulus, publicExponent };
    }
    if (key.spec.type === 'ec') {
      const { ecParams } = await this.#attributes(objectClass, key.id, ['ecParams']);
      return { keyType, curve: curveByParams(ecParams) };
    }
    const { valueLen } = await this.#attributes(objectClass, key.id, ['valueLen']);
    return { keyType, valueLen };
  }

  /**
   * The public parts of a key pair read from, or found from, its private object: for a private
   * key unwrapped without its public part (BYOK). An RSA private key carries its modulus and
   * exponent; an EC one does not, and its point is found as ec-public-point.ts says, by ECDH on
   * a session copy that may derive (the stored key never can). `shape`: the key's secretShape,
   * when the caller has read it already.
   */
  async publicPartsOfPrivate(key: TokenKey, shape?: SecretShape): Promise<PublicKeyParts> {
    shape ??= await this.secretShape(key);
    if (key.spec.type === 'rsa' && shape.modulus && shape.publicExponent) {
      return { type: 'rsa', modulus: shape.modulus, publicExponent: shape.publicExponent };
    }
    const curve = shape.curve;
    if (key.spec.type !== 'ec' || curve === undefined) throw new TypeError(`a ${key.spec.type} key has no public part`);
    const x = await this.#ecdhWithGenerator(key, curve);
    const signature = await this.sign(key, { type: CKM.ECDSA }, PARITY_DIGEST);
    const point = pointsWithX(curve, x).find((candidate) => verifiesUnder(curve, candidate, signature));
    if (!point) throw new TokenError('PUBLIC_POINT_NOT_FOUND', `neither point with the derived x verifies the ${curve} key's signature`);
    return { type: 'ec', curve, point };
  }

  async #ecdhWithGenerator(key: TokenKey, curve: CurveName): Promise<Buffer> {
    const secretTemplate = toNativeTemplate({
      class: CKO.SECRET_KEY,
      keyType: CKK.GENERIC_SECRET,
      token: false,
      sensitive: false,
      extractable: true,
      valueLen: CURVES[curve].fieldBytes,
    });
    const mechanism = { type: CKM.ECDH1_DERIVE, ecdh1: { kdf: CKD_NULL, publicData: generatorPoint(curve) } };
    // On a session copy that may derive: the stored key is never changed, so no crash can leave
    // it able to.
    const handle = await this.#resolve(CKO.PRIVATE_KEY, key.id);
    const copy = await this.#run<number>('heavy', (s) => ['copyObject', s, handle, toNativeTemplate({ token: false, derive: true })]);
    try {
      const derived = await this.#run<number>('heavy', (s) => ['deriveKey', s, mechanism, copy, secretTemplate]);
      try {
        const [x] = await this.#run<Buffer[]>('cheap', (s) => ['getAttributeValue', s, derived, attributeTypes(['value'])]);
        return x as Buffer;
      } finally {
        await this.#run('cheap', (s) => ['destroyObject', s, derived]).catch(() => undefined);
      }
    } finally {
      await this.#run('cheap', (s) => ['destroyObject', s, copy]).catch(() => undefined);
    }
  }

  /**
   * The attributes a key attestation states, of the key's secret object (private or secret key)
   * and, for a key pair, of its public object: read from the token at the time of the call.
   */
  async statedAttributes(key: TokenKey): Promise<{ secret: StatedAttributes; public?: StatedAttributes }> {
    const spec = key.spec;
    if (!isKeyPair(spec)) return { secret: await this.#attributes(CKO.SECRET_KEY, key.id, SECRET_STATED) };
    const size = spec.type === 'rsa' ? (['modulusBits'] as const) : (['ecParams'] as const);
    const secret: StatedAttributes = await this.#attributes(CKO.PRIVATE_KEY, key.id, PRIVATE_STATED);
    // The size as the private object states it: an EC key's curve, an RSA key's modulus.
    Object.assign(secret, await this.#attributes(CKO.PRIVATE_KEY, key.id, spec.type === 'ec' ? ['ecParams'] : ['modulus']));
    const publicKey: StatedAttributes = await this.#attributes(CKO.PUBLIC_KEY, key.id, [...PUBLIC_STATED, ...size]);
    return { secret, public: publicKey };
  }

  async keyProtection(key: TokenKey): Promise<KeyProtection> {
    return this.#attributes(secretClassOf(key.spec), key.id, PROTECTION_ATTRIBUTES);
  }

  // ---- cryptography -------------------------------------------------------------------------

  sign(key: TokenKey, mechanism: NativeMechanism, data: Uint8Array): Promise<Buffer> {
    return this.#withKey('sign', key, secretClassOf(key.spec), data.length, (h, s) => ['sign', s, mechanism, h, data]);
  }

  verify(key: TokenKey, mechanism: NativeMechanism, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    return this.#withKey('verify', key, publicClassOf(key.spec), data.length, (h, s) => ['verify', s, mechanism, h, data, signature]);
  }

  encrypt(key: TokenKey, mechanism: NativeMechanism, data: Uint8Array): Promise<Buffer> {
    return this.#withKey('encrypt', key, publicClassOf(key.spec), data.length, (h, s) => ['encrypt', s, mechanism, h, data]);
  }

  decrypt(key: TokenKey, mechanism: NativeMechanism, data: Uint8Array): Promise<Buffer> {
    return this.#withKey('decrypt', key, secretClassOf(key.spec), data.length, (h, s) => ['decrypt', s, mechanism, h, data]);
  }

  /** Wraps the secret part of `key` under `wrappingKey` (its public part for a key pair). */
  wrapKey(wrappingKey: TokenKey, mechanism: NativeMechanism, key: TokenKey): Promise<Buffer> {
    const refs: ObjectRef[] = [
      [publicClassOf(wrappingKey.spec), wrappingKey.id],
      [secretClassOf(key.spec), key.id],
    ];
    return this.#withObjects(refs, costOf({ operation: 'wrap', key: wrappingKey.spec }), ([wrapping, target], s) => [
      'wrapKey',
      s,
      mechanism,
      wrapping as number,
      target as number,
    ]);
  }

  /** Unwraps a secret or private key into the token with the same protections as a generated one. */
  async unwrapKey(
    unwrappingKey: TokenKey,
    mechanism: NativeMechanism,
    wrapped: Uint8Array,
    spec: KeySpec,
    options: GenerateKeyOptions = {},
  ): Promise<TokenKey> {
    validateKeySpec(spec);
    const ephemeral = options.ephemeral ?? false;
    const templateOptions = templateOptionsOf(spec, options);
    const template = isKeyPair(spec)
      ? keyPairTemplate(spec, templateOptions).privateTemplate.filter((a) => !UNWRAP_EXCLUDED.has(a.type))
      : secretKeyTemplate(spec, templateOptions).template.filter((a) => !UNWRAP_EXCLUDED.has(a.type));
    const cost = costOf({ operation: 'unwrap', key: unwrappingKey.spec, payloadBytes: wrapped.length, writesTokenObject: !ephemeral });
    const refs: ObjectRef[] = [[secretClassOf(unwrappingKey.spec), unwrappingKey.id]];
    const generation = this.#pool.generation;
    const handle = await this.#writing(!ephemeral, () =>
      this.#withObjects<number>(refs, cost, ([unwrapping], s) => ['unwrapKey', s, mechanism, unwrapping as number, wrapped, template]),
    );
    this.#remember(generation, secretClassOf(spec), templateOptions.id, handle);
    return ephemeral ? { id: templateOptions.id, spec, ephemeral } : { id: templateOptions.id, spec };
  }

  random(length: number): Promise<Buffer> {
    return this.#run(costOf({ operation: 'random', payloadBytes: length }), (s) => ['generateRandom', s, length]);
  }

  digest(mechanism: NativeMechanism, data: Uint8Array): Promise<Buffer> {
    return this.#run(costOf({ operation: 'digest', payloadBytes: data.length }), (s) => ['digest', s, mechanism, data]);
  }

  /** Closes this token's sessions and releases the module (C_Finalize once nobody uses it). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeSessions(this.#sessions);
    this.#pin.fill(0);
    releaseModule(this.#module);
  }

  // ---- internals ----------------------------------------------------------------------------

  #closeSessions(sessions: readonly number[]): void {
    for (const session of sessions) {
      try {
        this.#module.closeSession(session);
      } catch {
        // already closed by the token
      }
    }
  }

  /** Caches a handle the token just returned, unless the sessions were renewed meanwhile. */
  #remember(generation: number, objectClass: number, id: Buffer, handle: number): void {
    if (generation === this.#pool.generation) this.#handles.set(this.#cacheKey(objectClass, id), handle);
  }

  #cacheKey(objectClass: number, id: Buffer): string {
    return `${objectClass}:${id.toString('hex')}`;
  }

  async #find(objectClass: number, id: Buffer): Promise<number[]> {
    const template = toNativeTemplate({ class: objectClass, id });
    return this.#run('heavy', (s) => ['findObjects', s, template]);
  }

  async #resolve(objectClass: number, id: Buffer): Promise<number> {
    const cacheKey = this.#cacheKey(objectClass, id);
    const cached = this.#handles.get(cacheKey);
    if (cached !== undefined) return cached;
    const handles = await this.#find(objectClass, id);
    const idHex = id.toString('hex');
    if (handles.length === 0) throw new TokenError('OBJECT_NOT_FOUND', `no object of class ${objectClass} with CKA_ID ${idHex}`);
    if (handles.length > 1) throw new TokenError('OBJECT_AMBIGUOUS', `${handles.length} objects of class ${objectClass} share CKA_ID ${idHex}`);
    const handle = handles[0] as number;
    this.#handles.set(cacheKey, handle);
    return handle;
  }

  async #attributes<N extends AttributeName>(objectClass: number, id: Buffer, names: readonly N[]) {
    const types = attributeTypes(names);
    const raw = await this.#withObjects<Buffer[]>([[objectClass, id]], 'heavy', ([h], s) => ['getAttributeValue', s, h as number, types]);
    return decodeAttributes(names, raw);
  }

  #withKey<T>(operation: TokenOperation, key: TokenKey, objectClass: number, payloadBytes: number, build: (handle: number, session: number) => SessionCall): Promise<T> {
    const cost = costOf({ operation, key: key.spec, payloadBytes });
    return this.#withObjects([[objectClass, key.id]], cost, ([handle], session) => build(handle as number, session));
  }

  /**
   * Runs a call on objects. If the token dropped our sessions, they are reopened; if it no
   * longer knows a handle, handles are looked up again by CKA_ID; either way, one retry.
   * A handle is never reused across a session recovery, where a module may renumber objects.
   */
  async #withObjects<T>(refs: readonly ObjectRef[], cost: CallCost, build: ObjectCallBuilder): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const generation = this.#pool.generation;
      const handles = this.#cachedHandles(refs) ?? (await this.#resolveAll(refs));
      try {
        return await this.#scheduled<T>(cost, (session) => build(handles, session));
      } catch (error) {
        if (attempt > 0) throw error;
        if (isSessionLost(error)) await this.#recover(generation);
        else if (isHandleInvalid(error)) this.#handles.clear();
        else throw error;
      }
    }
  }

  /** The handles of all refs if every one is cached (the common case: no await), else undefined. */
  #cachedHandles(refs: readonly ObjectRef[]): number[] | undefined {
    const handles: number[] = [];
    for (const [objectClass, id] of refs) {
      const handle = this.#handles.get(this.#cacheKey(objectClass, id));
      if (handle === undefined) return undefined;
      handles.push(handle);
    }
    return handles;
  }

  async #resolveAll(refs: readonly ObjectRef[]): Promise<number[]> {
    const handles: number[] = [];
    for (const [objectClass, id] of refs) handles.push(await this.#resolve(objectClass, id));
    return handles;
  }

  /** Runs a call that names no object; after a session loss, reopens the sessions and retries once. */
  async #run<T>(cost: CallCost, build: (session: number) => SessionCall): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const generation = this.#pool.generation;
      try {
        return await this.#scheduled<T>(cost, build);
      } catch (error) {
        if (attempt > 0 || !isSessionLost(error)) throw error;
        await this.#recover(generation);
      }
    }
  }

  /**
   * Token-object writes (generate, create, unwrap into, destroy) run one at a time. SoftHSM2
   * 2.6.1 answers CKR_GENERAL_ERROR now and then when two threads write objects of one token
   * at once (the crash campaign found it); reads and cryptography are not held up.
   */
  /**
   * While an object is being destroyed, cheap calls leave the JS thread too: SoftHSM2's file
   * store rescans its directory on each destroy, holding the token's locks for as long (a tenth
   * of a second among 20,000 objects), and an inline call that waits for them would hold the
   * event loop (bench:backup measured 95 ms).
   */
  async #destroyTokenObject(handle: number): Promise<void> {
    this.#destroys++;
    try {
      await this.#run('heavy', (s) => ['destroyObject', s, handle]);
    } finally {
      this.#destroys--;
    }
  }

  /** Drops the cached handles of every class of object with this CKA_ID. */
  #forget(id: Buffer): void {
    for (const objectClass of [CKO.PUBLIC_KEY, CKO.PRIVATE_KEY, CKO.SECRET_KEY]) this.#handles.delete(this.#cacheKey(objectClass, id));
  }

  #writing<T>(persistent: boolean, work: () => Promise<T>): Promise<T> {
    if (!persistent) return work();
    const result = this.#writes.then(work, work);
    this.#writes = result.catch(() => undefined);
    return result;
  }

  #scheduled<T>(cost: CallCost, build: (session: number) => SessionCall): T | Promise<T> {
    if (this.#closed) throw new TokenError('TOKEN_CLOSED', 'the token has been closed');
    return this.#scheduler.run<T>(cost, build);
  }

  async #recover(failedGeneration: number): Promise<void> {
    if (this.#pool.generation !== failedGeneration) return; // someone already did
    this.#recovering ??= this.#reopenSessions().finally(() => {
      this.#recovering = undefined;
    });
    await this.#recovering;
  }

  /** New sessions first, then login, then the old ones closed: the token never has none open. */
  async #reopenSessions(): Promise<void> {
    const old = this.#sessions;
    const sessions: number[] = [];
    try {
      for (let i = 0; i < old.length; i++) sessions.push(this.#module.openSession(this.#slot, CKF.RW_SESSION));
      await Token.#login(this.#module, sessions[0] ?? -1, this.#pin, this.description.label);
    } catch (error) {
      this.#closeSessions(sessions);
      throw error;
    }
    this.#handles.clear();
    this.#useSessions(sessions);
    this.#closeSessions(old);
    this.#recoveries++;
  }

  #useSessions(sessions: number[]): void {
    const [inlineSession, ...poolSessions] = sessions;
    this.#sessions = sessions;
    this.#inlineSession = inlineSession ?? -1;
    this.#pool.replace(poolSessions);
  }
}
