#include "mechanisms.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "local-crypto.h"

namespace mhsm {
namespace {

constexpr CK_FLAGS SIGN = CKF_SIGN | CKF_VERIFY;
constexpr CK_FLAGS EC_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;

const std::vector<MechanismEntry> TABLE = {
    {CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 4096, CKF_GENERATE_KEY_PAIR},
    {CKM_RSA_PKCS, 2048, 4096, SIGN | CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP},
    {CKM_RSA_PKCS_OAEP, 2048, 4096, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP},
    {CKM_SHA256_RSA_PKCS, 2048, 4096, SIGN},
    {CKM_SHA384_RSA_PKCS, 2048, 4096, SIGN},
    {CKM_SHA512_RSA_PKCS, 2048, 4096, SIGN},
    {CKM_RSA_PKCS_PSS, 2048, 4096, SIGN},
    {CKM_SHA256_RSA_PKCS_PSS, 2048, 4096, SIGN},
    {CKM_SHA384_RSA_PKCS_PSS, 2048, 4096, SIGN},
    {CKM_SHA512_RSA_PKCS_PSS, 2048, 4096, SIGN},
    {CKM_EC_KEY_PAIR_GEN, 256, 521, CKF_GENERATE_KEY_PAIR | EC_FLAGS},
    {CKM_ECDSA, 256, 521, SIGN | EC_FLAGS},
    {CKM_ECDSA_SHA1, 256, 521, SIGN | EC_FLAGS},
    {CKM_ECDSA_SHA256, 256, 521, SIGN | EC_FLAGS},
    {CKM_ECDSA_SHA384, 256, 521, SIGN | EC_FLAGS},
    {CKM_ECDSA_SHA512, 256, 521, SIGN | EC_FLAGS},
    {CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE},
    {CKM_SHA_1, 0, 0, CKF_DIGEST},
    {CKM_SHA224, 0, 0, CKF_DIGEST},
    {CKM_SHA256, 0, 0, CKF_DIGEST},
    {CKM_SHA384, 0, 0, CKF_DIGEST},
    {CKM_SHA512, 0, 0, CKF_DIGEST},
    {CKM_AES_GCM, 16, 32, CKF_ENCRYPT | CKF_DECRYPT},
    {CKM_AES_CBC, 16, 32, CKF_ENCRYPT | CKF_DECRYPT},
    {CKM_AES_CBC_PAD, 16, 32, CKF_ENCRYPT | CKF_DECRYPT},
    {CKM_AES_KEY_WRAP, 16, 32, CKF_WRAP | CKF_UNWRAP},
    {CKM_AES_KEY_WRAP_PAD, 16, 32, CKF_WRAP | CKF_UNWRAP},
};

struct DigestInfoPrefix {
  const char* hash;
  Bytes prefix;
};
const DigestInfoPrefix DIGEST_INFOS[] = {
    {"SHA256", {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}},
    {"SHA384", {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30}},
    {"SHA512", {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40}},
};

enum class Scheme { Pkcs1, Pss, Ecdsa };

/** Each signature mechanism: its scheme, and the hash it applies here (null: it is given a digest). */
struct SignatureMechanism {
  CK_MECHANISM_TYPE type;
  Scheme scheme;
  const char* hash;
};
const SignatureMechanism SIGNATURES[] = {
    {CKM_RSA_PKCS, Scheme::Pkcs1, nullptr},
    {CKM_SHA256_RSA_PKCS, Scheme::Pkcs1, "SHA256"},
    {CKM_SHA384_RSA_PKCS, Scheme::Pkcs1, "SHA384"},
    {CKM_SHA512_RSA_PKCS, Scheme::Pkcs1, "SHA512"},
    {CKM_RSA_PKCS_PSS, Scheme::Pss, nullptr},
    {CKM_SHA256_RSA_PKCS_PSS, Scheme::Pss, "SHA256"},
    {CKM_SHA384_RSA_PKCS_PSS, Scheme::Pss, "SHA384"},
    {CKM_SHA512_RSA_PKCS_PSS, Scheme::Pss, "SHA512"},
    {CKM_ECDSA, Scheme::Ecdsa, nullptr},
    {CKM_ECDSA_SHA1, Scheme::Ecdsa, "SHA1"},
    {CKM_ECDSA_SHA256, Scheme::Ecdsa, "SHA256"},
    {CKM_ECDSA_SHA384, Scheme::Ecdsa, "SHA384"},
    {CKM_ECDSA_SHA512, Scheme::Ecdsa, "SHA512"},
};

const SignatureMechanism* signatureOf(CK_MECHANISM_TYPE type) {
  for (const SignatureMechanism& signature : SIGNATURES) {
    if (signature.type == type) return &signature;
  }
  return nullptr;
}

const DigestInfoPrefix* digestInfoOf(const char* hash) {
  for (const DigestInfoPrefix& info : DIGEST_INFOS) {
    if (std::strcmp(info.hash, hash) == 0) return &info;
  }
  return nullptr;
}

/** Managed HSM's PSxxx: MGF1 with the same hash, salt as long as the digest. */
const char* pssHash(const CK_RSA_PKCS_PSS_PARAMS& pss) {
  if (pss.hashAlg == CKM_SHA256 && pss.mgf == CKG_MGF1_SHA256 && pss.sLen == 32) return "SHA256";
  if (pss.hashAlg == CKM_SHA384 && pss.mgf == CKG_MGF1_SHA384 && pss.sLen == 48) return "SHA384";
  if (pss.hashAlg == CKM_SHA512 && pss.mgf == CKG_MGF1_SHA512 && pss.sLen == 64) return "SHA512";
  return nullptr;
}

std::string suffixOf(const char* hash) { return std::string(hash).substr(3); }  // "SHA256" → "256"

/** ES256, ES384, ES512 or ES256K, by the key's curve, with the digest fitted to its size. */
CK_RV ecdsaRequest(const KeyInfo& key, Bytes digest, SignRequest& out) {
  const std::string crv = key.curve->jwkName;
  size_t size = crv == "P-521" ? 64 : key.curve->coordinateBytes;
  if (digest.empty()) return CKR_DATA_LEN_RANGE;
  if (digest.size() > size) {
    // ECDSA uses the leftmost bits of a longer digest; P-521's 521 bits are not a whole number of bytes.
    if (crv == "P-521") return CKR_DATA_LEN_RANGE;
    digest.resize(size);
  } else if (digest.size() < size) {
    digest.insert(digest.begin(), size - digest.size(), 0);
  }
  out.alg = crv == "P-256" ? "ES256" : crv == "P-384" ? "ES384" : crv == "P-521" ? "ES512" : "ES256K";
  out.digest = std::move(digest);
  return CKR_OK;
}

}  // namespace

const std::vector<MechanismEntry>& mechanismTable() { return TABLE; }

const MechanismEntry* mechanismEntry(CK_MECHANISM_TYPE type) {
  for (const MechanismEntry& entry : TABLE) {
    if (entry.type == type) return &entry;
  }
  return nullptr;
}

CK_RV signMechanismFor(const CK_MECHANISM* mechanism, const KeyInfo& key, SignMechanism& out) {
  const SignatureMechanism* signature = signatureOf(mechanism->mechanism);
  if (!signature) return CKR_MECHANISM_INVALID;
  if (key.kty != (signature->scheme == Scheme::Ecdsa ? "EC" : "RSA")) return CKR_KEY_TYPE_INCONSISTENT;
  out = SignMechanism{};
  out.type = mechanism->mechanism;
  if (signature->scheme == Scheme::Pss) {
    if (!mechanism->pParameter || mechanism->ulParameterLen != sizeof(CK_RSA_PKCS_PSS_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
    std::memcpy(&out.pss, mechanism->pParameter, sizeof out.pss);
    const char* hash = pssHash(out.pss);
    if (!hash) return CKR_MECHANISM_PARAM_INVALID;
    if (signature->hash && std::strcmp(signature->hash, hash) != 0) return CKR_MECHANISM_PARAM_INVALID;
  }
  return CKR_OK;
}

CK_RV signRequestFor(const SignMechanism& mechanism, const KeyInfo& key, const Bytes& data, SignRequest& out) {
  const SignatureMechanism& signature = *signatureOf(mechanism.type);
  Bytes digest = signature.hash ? digestOf(signature.hash, data) : data;
  switch (signature.scheme) {
    case Scheme::Pkcs1:
      if (signature.hash) {
        out.hash = signature.hash;
        out.digest = std::move(digest);
      } else {
        // CKM_RSA_PKCS is given DigestInfo || digest. Managed HSM signs SHA-256, SHA-384 and SHA-512
        // digests only: nothing else can be signed raw.
        auto info = std::find_if(std::begin(DIGEST_INFOS), std::end(DIGEST_INFOS), [&](const DigestInfoPrefix& i) {
          return data.size() == i.prefix.size() + i.prefix.back() && std::memcmp(data.data(), i.prefix.data(), i.prefix.size()) == 0;
        });
        if (info == std::end(DIGEST_INFOS)) return CKR_DATA_INVALID;
        out.hash = info->hash;
        out.digest.assign(data.begin() + static_cast<long>(info->prefix.size()), data.end());
      }
      out.alg = "RS" + suffixOf(out.hash);
      return CKR_OK;
    case Scheme::Pss:
      if (digest.size() != static_cast<size_t>(mechanism.pss.sLen)) return CKR_DATA_LEN_RANGE;
      out.hash = pssHash(mechanism.pss);
      out.alg = "PS" + suffixOf(out.hash);
      out.digest = std::move(digest);
      return CKR_OK;
    case Scheme::Ecdsa: return ecdsaRequest(key, std::move(digest), out);
  }
  return CKR_GENERAL_ERROR;
}

CK_ULONG signatureLength(const KeyInfo& key) {
  if (key.kty == "RSA") return static_cast<CK_ULONG>((key.modulusBits() + 7) / 8);
  return static_cast<CK_ULONG>(2 * key.curve->coordinateBytes);
}

CK_RV verifyLocally(const SignMechanism& mechanism, const KeyInfo& key, const Bytes& data, const Bytes& signature) {
  if (signature.size() != signatureLength(key)) return CKR_SIGNATURE_LEN_RANGE;
  SignRequest request;
  CK_RV rv = signRequestFor(mechanism, key, data, request);
  if (rv != CKR_OK) return rv;
  bool valid = false;
  switch (signatureOf(mechanism.type)->scheme) {
    case Scheme::Pss: valid = verifyRsa(key, RsaPadding::Pss, request.hash, request.digest.size(), request.digest, signature); break;
    case Scheme::Pkcs1: {
      Bytes encoded = digestInfoOf(request.hash)->prefix;
      encoded.insert(encoded.end(), request.digest.begin(), request.digest.end());
      valid = verifyRsa(key, RsaPadding::Pkcs1, request.hash, 0, encoded, signature);
      break;
    }
    case Scheme::Ecdsa: valid = verifyEcdsa(key, request.digest, signature); break;
  }
  return valid ? CKR_OK : CKR_SIGNATURE_INVALID;
}

}  // namespace mhsm
