// Public-key work done here with OpenSSL, as a PKCS#11 module may: digests for the hash-and-sign
// mechanisms, and signature verification with the key's public half from its JWK.
#pragma once
#include <optional>
#include <string>

#include "der.h"
#include "key-objects.h"

namespace mhsm {

/** The digest of `data` by "SHA1", "SHA224", "SHA256", "SHA384" or "SHA512". */
Bytes digestOf(const char* hash, const Bytes& data);

enum class RsaPadding { Pkcs1, Pss };

/** RSA PKCS#1 v1.5 over DigestInfo || digest as given (the CKM_RSA_PKCS way), or PSS over a digest. */
bool verifyRsa(const KeyInfo& key, RsaPadding padding, const char* hash, size_t saltLength, const Bytes& input, const Bytes& signature);
/** RSA encryption with the public key: PKCS#1 v1.5 when `oaepHash` is null, else OAEP with MGF1 of that hash. */
std::optional<Bytes> rsaEncrypt(const KeyInfo& key, const char* oaepHash, const Bytes& plaintext);
/**
 * AES with a key held here (a session object's): CKM_AES_GCM (the tag after the ciphertext, as
 * PKCS#11 has it), CKM_AES_CBC, CKM_AES_CBC_PAD. Nullopt when the input does not decrypt or
 * authenticate, or has a length the mode cannot take.
 */
std::optional<Bytes> aesLocally(CK_MECHANISM_TYPE mode, const Bytes& key, const Bytes& iv, const Bytes& aad, bool encrypt, const Bytes& input);
/** ECDSA over a digest, the signature as r || s (CKM_ECDSA's form). */
bool verifyEcdsa(const KeyInfo& key, const Bytes& digest, const Bytes& signature);

}  // namespace mhsm
