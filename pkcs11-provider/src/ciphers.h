// Encryption and decryption mechanisms and their REST algorithms. RSA decryption (CKM_RSA_PKCS:
// RSA1_5; CKM_RSA_PKCS_OAEP with SHA-1 or SHA-256: RSA-OAEP, RSA-OAEP-256) runs in the HSM, RSA
// encryption here with the public key. AES-GCM, AES-CBC and AES-CBC-PAD run in the HSM both
// ways, as AnnnGCM, AnnnCBC and AnnnCBCPAD by the key's size (from the token's own statement).
#pragma once
#include <optional>
#include <string>

#include "cryptoki.h"
#include "der.h"
#include "key-objects.h"

namespace mhsm {

struct CipherMechanism {
  CK_MECHANISM_TYPE type = 0;
  const char* oaepHash = nullptr;  // "SHA1" or "SHA256" for CKM_RSA_PKCS_OAEP
  Bytes iv;
  Bytes aad;
};

/** Checks the mechanism, its parameters and the key (its usage `op`): CKR_OK or why not. */
CK_RV cipherMechanismFor(const CK_MECHANISM* mechanism, const KeyInfo& key, bool encrypt, CipherMechanism& out);
/** The REST algorithm name; empty when the key's size is unknown. */
std::string cipherAlgorithm(const CipherMechanism& mechanism, const KeyInfo& key);
/** An upper bound of the output's length for `inputLength` bytes in. */
CK_ULONG cipherOutputBound(const CipherMechanism& mechanism, const KeyInfo& key, bool encrypt, CK_ULONG inputLength);
/** RSA encryption with the public key, here. */
std::optional<Bytes> rsaEncryptLocally(const CipherMechanism& mechanism, const KeyInfo& key, const Bytes& plaintext);

constexpr size_t GCM_TAG_BYTES = 16;

}  // namespace mhsm
