// The mechanisms the library offers, and how a signature mechanism maps onto the REST API's
// algorithms: a hash-and-sign mechanism hashes here and sends the digest; CKM_RSA_PKCS takes a
// DigestInfo and sends its digest under the matching RSxxx; CKM_ECDSA fits the digest to the
// curve's size as ECDSA itself would (truncated, or left-padded with zeros: the same number).
#pragma once
#include <string>
#include <vector>

#include "cryptoki.h"
#include "der.h"
#include "key-objects.h"

namespace mhsm {

struct MechanismEntry {
  CK_MECHANISM_TYPE type;
  CK_ULONG minKeySize;
  CK_ULONG maxKeySize;
  CK_FLAGS flags;
};

const std::vector<MechanismEntry>& mechanismTable();
const MechanismEntry* mechanismEntry(CK_MECHANISM_TYPE type);

/** A signature mechanism with its parameters, copied out of the caller's CK_MECHANISM. */
struct SignMechanism {
  CK_MECHANISM_TYPE type = 0;
  CK_RSA_PKCS_PSS_PARAMS pss{};
};

/** Checks the mechanism and its parameters against the key: CKR_OK or why not. */
CK_RV signMechanismFor(const CK_MECHANISM* mechanism, const KeyInfo& key, SignMechanism& out);

/** The REST sign request for `data`: the algorithm and the digest it signs. */
struct SignRequest {
  std::string alg;
  Bytes digest;
  const char* hash = nullptr;  // the digest's hash, for RSA ("SHA256", ...)
};
CK_RV signRequestFor(const SignMechanism& mechanism, const KeyInfo& key, const Bytes& data, SignRequest& out);
/** The signature's length: the modulus, or r || s. */
CK_ULONG signatureLength(const KeyInfo& key);
/** Verifies here, with the key's public half. */
CK_RV verifyLocally(const SignMechanism& mechanism, const KeyInfo& key, const Bytes& data, const Bytes& signature);

}  // namespace mhsm
