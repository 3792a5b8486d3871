// C_CreateObject, C_WrapKey and C_UnwrapKey: Managed HSM's wrapKey and unwrapKey, whose subject
// is a key given by value, so here a session object (session-objects.h). Wrapping with an RSA key
// runs here with its public key (CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP); with an AES key in the HSM
// (CKM_AES_KEY_WRAP, RFC 3394; CKM_AES_KEY_WRAP_PAD, RFC 5649). Unwrapping always runs in the HSM.
// A key in the HSM is never the subject: it leaves the HSM only by backup or by key release.
#include <openssl/crypto.h>

#include <cstring>

#include "log.h"
#include "session.h"

namespace mhsm {
namespace {

using nlohmann::json;

bool isAesWrap(CK_MECHANISM_TYPE type) { return type == CKM_AES_KEY_WRAP || type == CKM_AES_KEY_WRAP_PAD; }

/** The wrapping mechanism checked against the HSM key: its REST algorithm in `alg`. */
CK_RV wrapMechanismFor(const CK_MECHANISM* mechanism, const KeyInfo& key, CipherMechanism& out, std::string& alg) {
  if (isAesWrap(mechanism->mechanism)) {
    if (key.kty != "oct") return CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
    // The default initial values of RFC 3394 and RFC 5649 only: the service takes no other.
    if (mechanism->ulParameterLen != 0) return CKR_MECHANISM_PARAM_INVALID;
    out = CipherMechanism{};
    out.type = mechanism->mechanism;
    alg = mechanism->mechanism == CKM_AES_KEY_WRAP ? "CKM_AES_KEY_WRAP" : "CKM_AES_KEY_WRAP_PAD";
    return CKR_OK;
  }
  if (mechanism->mechanism != CKM_RSA_PKCS && mechanism->mechanism != CKM_RSA_PKCS_OAEP) return CKR_MECHANISM_INVALID;
  if (key.kty != "RSA") return CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
  CK_RV rv = cipherMechanismFor(mechanism, key, true, out);
  if (rv != CKR_OK) return rv;
  alg = cipherAlgorithm(out, key);
  return CKR_OK;
}

/** The wrapping (or unwrapping) key and the mechanism checked against it, with the return values
 *  PKCS#11 gives for those keys. */
CK_RV wrappingKeyFor(Library& lib, Session& session, const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE handle, bool unwrap, KeyInfo& key, CipherMechanism& cipher, std::string& alg) {
  const char* function = unwrap ? "C_UnwrapKey" : "C_WrapKey";
  CK_RV rv = hsmKeyFor(lib, session, handle, unwrap ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY, true, unwrap ? "unwrapKey" : "wrapKey", key, function);
  if (rv == CKR_OK) rv = wrapMechanismFor(mechanism, key, cipher, alg);
  if (rv == CKR_KEY_HANDLE_INVALID) return unwrap ? CKR_UNWRAPPING_KEY_HANDLE_INVALID : CKR_WRAPPING_KEY_HANDLE_INVALID;
  if (rv == CKR_KEY_TYPE_INCONSISTENT || rv == CKR_WRAPPING_KEY_TYPE_INCONSISTENT) return unwrap ? CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT : CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
  return rv;
}

}  // namespace

CK_RV createObject(Library& lib, Session& session, const CK_ATTRIBUTE* templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR object) {
  SessionObject made;
  CK_RV rv = sessionObjectFrom(templ, count, false, made, "C_CreateObject");
  if (rv != CKR_OK) return rv;
  made.owner = session.handle;
  made.slot = session.slot;
  *object = lib.addSessionObject(std::move(made));
  return CKR_OK;
}

CK_RV wrapKey(Library& lib, Session& session, const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE subject, CK_BYTE_PTR out, CK_ULONG_PTR outLength) {
  const char* function = "C_WrapKey";
  auto key = lib.sessionObject(subject);
  if (!key) {
    if (!lib.object(subject)) return CKR_KEY_HANDLE_INVALID;
    logLine("C_WrapKey: a key in the HSM leaves it only by backup or by key release, not by C_WrapKey");
    return CKR_KEY_UNEXTRACTABLE;
  }
  if (!key->extractable) return CKR_KEY_UNEXTRACTABLE;
  KeyInfo wrapper;
  CipherMechanism cipher;
  std::string alg;
  CK_RV rv = wrappingKeyFor(lib, session, mechanism, wrapping, false, wrapper, cipher, alg);
  if (rv != CKR_OK) return rv;
  const size_t n = key->value.size();
  CK_ULONG bound = wrapper.kty == "RSA" ? static_cast<CK_ULONG>((wrapper.modulusBits() + 7) / 8) : static_cast<CK_ULONG>(cipher.type == CKM_AES_KEY_WRAP ? n + 8 : (n + 7) / 8 * 8 + 8);
  if (cipher.type == CKM_AES_KEY_WRAP && (n < 16 || n % 8 != 0)) return CKR_KEY_SIZE_RANGE;
  if (!out) {
    *outLength = bound;
    return CKR_OK;
  }
  Bytes wrapped;
  if (wrapper.kty == "RSA") {
    auto sealed = rsaEncryptLocally(cipher, wrapper, key->value);
    if (!sealed) return CKR_KEY_SIZE_RANGE;
    wrapped = std::move(*sealed);
  } else {
    try {
      json answer = lib.slot(session.slot)->service->call("POST", restPath(wrapper) + "/wrapkey", json{{"alg", alg}, {"value", base64url(key->value)}});
      auto value = fromBase64url(answer.value("value", ""));
      if (!value) return CKR_DEVICE_ERROR;
      wrapped = std::move(*value);
    } catch (...) {
      return failure(function, "key " + wrapper.name);
    }
  }
  if (*outLength < wrapped.size()) {
    *outLength = static_cast<CK_ULONG>(wrapped.size());
    return CKR_BUFFER_TOO_SMALL;
  }
  std::memcpy(out, wrapped.data(), wrapped.size());
  *outLength = static_cast<CK_ULONG>(wrapped.size());
  return CKR_OK;
}

CK_RV unwrapKey(Library& lib, Session& session, const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE unwrapping, const Bytes& wrapped, const CK_ATTRIBUTE* templ, CK_ULONG count,
                CK_OBJECT_HANDLE_PTR object) {
  const char* function = "C_UnwrapKey";
  KeyInfo unwrapper;
  CipherMechanism cipher;
  std::string alg;
  CK_RV rv = wrappingKeyFor(lib, session, mechanism, unwrapping, true, unwrapper, cipher, alg);
  if (rv != CKR_OK) return rv;
  // The template is checked before the HSM is asked: a refused template costs no unwrap.
  SessionObject made;
  rv = sessionObjectFrom(templ, count, true, made, function);
  if (rv != CKR_OK) return rv;
  try {
    json answer = lib.slot(session.slot)->service->call("POST", restPath(unwrapper) + "/unwrapkey", json{{"alg", alg}, {"value", base64url(wrapped)}});
    std::string text = answer.value("value", "");
    auto value = fromBase64url(text);
    OPENSSL_cleanse(text.data(), text.size());
    if (!value) return CKR_DEVICE_ERROR;
    made.value = std::move(*value);
  } catch (const ServiceError& error) {
    if (error.status == 400) {
      logLine(std::string(function) + ": key " + unwrapper.name + ": " + error.what());
      return CKR_WRAPPED_KEY_INVALID;
    }
    return failure(function, "key " + unwrapper.name);
  } catch (...) {
    return failure(function, "key " + unwrapper.name);
  }
  if (made.keyType == CKK_AES && made.value.size() != 16 && made.value.size() != 24 && made.value.size() != 32) return CKR_TEMPLATE_INCONSISTENT;
  made.owner = session.handle;
  made.slot = session.slot;
  *object = lib.addSessionObject(std::move(made));
  return CKR_OK;
}

}  // namespace mhsm
