// What the token can do, probed once from its mechanism list.
import type { NativeModule } from '../native/addon.js';
import { CKF, CKM, mechanismName } from './constants.js';

export interface MechanismCapability {
  type: number;
  name: string;
  minKeySize: number;
  maxKeySize: number;
  flags: number;
}

const OPERATION_FLAGS: ReadonlyArray<[string, number]> = [
  ['encrypt', CKF.ENCRYPT],
  ['decrypt', CKF.DECRYPT],
  ['digest', CKF.DIGEST],
  ['sign', CKF.SIGN],
  ['verify', CKF.VERIFY],
  ['generate', CKF.GENERATE],
  ['generate_key_pair', CKF.GENERATE_KEY_PAIR],
  ['wrap', CKF.WRAP],
  ['unwrap', CKF.UNWRAP],
  ['derive', CKF.DERIVE],
];

export function operationsOf(flags: number): string[] {
  return OPERATION_FLAGS.filter(([, flag]) => (flags & flag) !== 0).map(([name]) => name);
}

export class Capabilities {
  readonly #byType: ReadonlyMap<number, MechanismCapability>;

  constructor(mechanisms: readonly MechanismCapability[]) {
    this.#byType = new Map(mechanisms.map((mechanism) => [mechanism.type, mechanism]));
  }

  static probe(module: NativeModule, slot: number): Capabilities {
    const mechanisms = module.getMechanismList(slot).map((type) => {
      const info = module.getMechanismInfo(slot, type);
      return { type, name: mechanismName(type), ...info };
    });
    return new Capabilities(mechanisms);
  }

  /** True when the mechanism is listed and, if flags are given, supports all of them. */
  has(type: number, flags = 0): boolean {
    const mechanism = this.#byType.get(type);
    return mechanism !== undefined && (mechanism.flags & flags) === flags;
  }

  get(type: number): MechanismCapability | undefined {
    return this.#byType.get(type);
  }

  /** RFC 5649 key wrap: SoftHSM2 2.6.1 numbers it 0x210A, PKCS#11 3.0 modules 0x210B. */
  get aesKeyWrapPad(): number | undefined {
    if (this.has(CKM.AES_KEY_WRAP_PAD)) return CKM.AES_KEY_WRAP_PAD;
    if (this.has(CKM.AES_KEY_WRAP_KWP)) return CKM.AES_KEY_WRAP_KWP;
    return undefined;
  }

  list(): MechanismCapability[] {
    return [...this.#byType.values()].sort((a, b) => a.type - b.type);
  }
}
