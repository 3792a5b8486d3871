#include "ciphers.h"

#include <cstring>

#include "local-crypto.h"

namespace mhsm {

CK_RV cipherMechanismFor(const CK_MECHANISM* mechanism, const KeyInfo& key, bool encrypt, CipherMechanism& out) {
  out = CipherMechanism{};
  out.type = mechanism->mechanism;
  switch (mechanism->mechanism) {
    case CKM_RSA_PKCS:
      if (key.kty != "RSA") return CKR_KEY_TYPE_INCONSISTENT;
      return CKR_OK;
    case CKM_RSA_PKCS_OAEP: {
      if (key.kty != "RSA") return CKR_KEY_TYPE_INCONSISTENT;
      if (!mechanism->pParameter || mechanism->ulParameterLen != sizeof(CK_RSA_PKCS_OAEP_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
      CK_RSA_PKCS_OAEP_PARAMS params;
      std::memcpy(&params, mechanism->pParameter, sizeof params);
      // Managed HSM's RSA-OAEP and RSA-OAEP-256: MGF1 with the same hash, no label.
      if (params.ulSourceDataLen != 0) return CKR_MECHANISM_PARAM_INVALID;
      if (params.hashAlg == CKM_SHA_1 && params.mgf == CKG_MGF1_SHA1) {
        out.oaepHash = "SHA1";
      } else if (params.hashAlg == CKM_SHA256 && params.mgf == CKG_MGF1_SHA256) {
        out.oaepHash = "SHA256";
      } else {
        return CKR_MECHANISM_PARAM_INVALID;
      }
      return CKR_OK;
    }
    case CKM_AES_GCM: {
      if (key.kty != "oct") return CKR_KEY_TYPE_INCONSISTENT;
      if (!mechanism->pParameter || mechanism->ulParameterLen != sizeof(CK_GCM_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
      CK_GCM_PARAMS params;
      std::memcpy(&params, mechanism->pParameter, sizeof params);
      // The service's AES-GCM: a 96-bit nonce and a 128-bit tag.
      if (!params.pIv || params.ulIvLen != 12 || params.ulTagBits != 128) return CKR_MECHANISM_PARAM_INVALID;
      if (params.ulAADLen > 0 && !params.pAAD) return CKR_MECHANISM_PARAM_INVALID;
      out.iv.assign(params.pIv, params.pIv + params.ulIvLen);
      if (params.ulAADLen > 0) out.aad.assign(params.pAAD, params.pAAD + params.ulAADLen);
      return CKR_OK;
    }
    case CKM_AES_CBC:
    case CKM_AES_CBC_PAD: {
      if (key.kty != "oct") return CKR_KEY_TYPE_INCONSISTENT;
      if (!mechanism->pParameter || mechanism->ulParameterLen != 16) return CKR_MECHANISM_PARAM_INVALID;
      const auto* iv = static_cast<const uint8_t*>(mechanism->pParameter);
      out.iv.assign(iv, iv + 16);
      return CKR_OK;
    }
    default: return CKR_MECHANISM_INVALID;
  }
  (void)encrypt;
}

std::string cipherAlgorithm(const CipherMechanism& mechanism, const KeyInfo& key) {
  if (mechanism.type == CKM_RSA_PKCS) return "RSA1_5";
  if (mechanism.type == CKM_RSA_PKCS_OAEP) return std::strcmp(mechanism.oaepHash, "SHA1") == 0 ? "RSA-OAEP" : "RSA-OAEP-256";
  CK_ULONG bytes = key.facts ? key.facts->valueLen : 0;
  if (bytes != 16 && bytes != 24 && bytes != 32) return "";
  std::string size = std::to_string(bytes * 8);
  if (mechanism.type == CKM_AES_GCM) return "A" + size + "GCM";
  if (mechanism.type == CKM_AES_CBC) return "A" + size + "CBC";
  return "A" + size + "CBCPAD";
}

CK_ULONG cipherOutputBound(const CipherMechanism& mechanism, const KeyInfo& key, bool encrypt, CK_ULONG inputLength) {
  switch (mechanism.type) {
    case CKM_RSA_PKCS:
    case CKM_RSA_PKCS_OAEP: return static_cast<CK_ULONG>((key.modulusBits() + 7) / 8);
    case CKM_AES_GCM: return encrypt ? inputLength + GCM_TAG_BYTES : (inputLength >= GCM_TAG_BYTES ? inputLength - GCM_TAG_BYTES : 0);
    case CKM_AES_CBC_PAD: return encrypt ? (inputLength / 16 + 1) * 16 : inputLength;
    default: return inputLength;
  }
}

std::optional<Bytes> rsaEncryptLocally(const CipherMechanism& mechanism, const KeyInfo& key, const Bytes& plaintext) {
  return rsaEncrypt(key, mechanism.type == CKM_RSA_PKCS_OAEP ? mechanism.oaepHash : nullptr, plaintext);
}

}  // namespace mhsm
