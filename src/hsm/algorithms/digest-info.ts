// DER DigestInfo prefixes (RFC 8017 section 9.2, note 1): RSASSA-PKCS1-v1_5 signs prefix || digest.

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

const PREFIXES: Readonly<Record<HashName, Buffer>> = {
  sha1: Buffer.from('3021300906052b0e03021a05000414', 'hex'),
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

export const DIGEST_BYTES: Readonly<Record<HashName, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export function digestInfo(hash: HashName, digest: Buffer): Buffer {
  return Buffer.concat([PREFIXES[hash], digest]);
}
