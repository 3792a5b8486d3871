// What the security domain carries: the domain's id and the values of its two keys, the trusted
// wrapping key and the sealing key. It is the plaintext of the domain file's one EncData item
// (tag DOMAIN_TAG), so that any HSM given the file and a quorum can install the same keys.
// A binary layout, so that the key values live only in Buffers that can be zeroed.
import { HsmError } from '../errors.js';

/** The EncData tag of the item that holds the payload (the service's own items have this tag too). */
export const DOMAIN_TAG = 'hsm_backup';

const MAGIC = Buffer.from('MHSMSD\x01\x00', 'latin1');
const ID_BYTES = 16;
const KEY_BYTES = 32;
const PAYLOAD_BYTES = MAGIC.length + ID_BYTES + 2 * KEY_BYTES;

export interface DomainPayload {
  /** 16 random bytes naming the domain; backups carry it, so a foreign one is told apart. */
  domainId: Buffer;
  /** The value of the CKA_TRUSTED AES-256 key under which key material leaves the token. */
  wrappingKey: Buffer;
  /** The value of the private AES-256 key that seals what leaves the HSM (AES-GCM). */
  sealingKey: Buffer;
}

export function encodePayload(payload: DomainPayload): Buffer {
  if (payload.domainId.length !== ID_BYTES || payload.wrappingKey.length !== KEY_BYTES || payload.sealingKey.length !== KEY_BYTES) {
    throw new RangeError('a domain payload is a 16-byte id and two 32-byte keys');
  }
  return Buffer.concat([MAGIC, payload.domainId, payload.wrappingKey, payload.sealingKey], PAYLOAD_BYTES);
}

/** The payload's parts are copies: zero them with zeroPayload, and the input too. */
export function decodePayload(bytes: Buffer): DomainPayload {
  if (bytes.length !== PAYLOAD_BYTES || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new HsmError('BadParameter', `value: the "${DOMAIN_TAG}" item of this security domain was not made by this emulator`);
  }
  let offset = MAGIC.length;
  const take = (length: number) => Buffer.from(bytes.subarray(offset, (offset += length)));
  return { domainId: take(ID_BYTES), wrappingKey: take(KEY_BYTES), sealingKey: take(KEY_BYTES) };
}

export function zeroPayload(payload: DomainPayload): void {
  payload.wrappingKey.fill(0);
  payload.sealingKey.fill(0);
}
