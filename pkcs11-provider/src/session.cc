#include "session.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "local-crypto.h"
#include "log.h"

namespace mhsm {
namespace {

using nlohmann::json;

/** CKA_LABEL of a template, when it has one: the key's name, so one GET instead of the list. */
std::optional<std::string> labelOf(const CK_ATTRIBUTE* templ, CK_ULONG count) {
  for (CK_ULONG i = 0; i < count; i++) {
    if (templ[i].type == CKA_LABEL && templ[i].pValue) return std::string(static_cast<const char*>(templ[i].pValue), templ[i].ulValueLen);
  }
  return std::nullopt;
}


/** C_SignInit and C_VerifyInit: the key that may sign (or verify), and the mechanism checked against it. */
CK_RV signatureInit(Library& lib, Session& session, const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE handle, bool sign) {
  SignOperation operation;
  // CKA_VERIFY is the key's verify operation: a key whose key_ops leave it out verifies nothing here either.
  CK_RV rv = sign ? hsmKeyFor(lib, session, handle, CKO_PRIVATE_KEY, true, "sign", operation.key, "C_SignInit")
                  : hsmKeyFor(lib, session, handle, CKO_PUBLIC_KEY, false, "verify", operation.key, "C_VerifyInit");
  if (rv == CKR_OK) rv = signMechanismFor(mechanism, operation.key, operation.mechanism);
  if (rv != CKR_OK) return rv;
  (sign ? session.sign : session.verify) = std::move(operation);
  return CKR_OK;
}

}  // namespace

CK_RV hsmKeyFor(Library& lib, Session& session, CK_OBJECT_HANDLE handle, CK_OBJECT_CLASS wanted, bool secretToo, const char* op, KeyInfo& out, const char* function) {
  auto ref = lib.object(handle);
  if (!ref || ref->slot != session.slot) return lib.sessionObject(handle) ? CKR_KEY_TYPE_INCONSISTENT : CKR_KEY_HANDLE_INVALID;
  if (ref->objectClass != wanted && !(secretToo && ref->objectClass == CKO_SECRET_KEY)) return CKR_KEY_TYPE_INCONSISTENT;
  try {
    out = lib.key(ref->slot, ref->name);
  } catch (...) {
    return failure(function, "key " + ref->name, CKR_KEY_HANDLE_INVALID);
  }
  if (!out.allows(op)) {
    logLine(std::string(function) + ": key " + out.name + ": its key_ops do not include " + op);
    return CKR_KEY_FUNCTION_NOT_PERMITTED;
  }
  return CKR_OK;
}

CK_RV findObjectsInit(Library& lib, Session& session, const CK_ATTRIBUTE* templ, CK_ULONG count) {
  std::vector<KeyInfo> keys;
  bool sessionOnly = false;
  for (CK_ULONG i = 0; i < count; i++) {
    if (templ[i].type == CKA_TOKEN && templ[i].pValue && templ[i].ulValueLen == 1 && *static_cast<CK_BBOOL*>(templ[i].pValue) == CK_FALSE) sessionOnly = true;
  }
  try {
    auto label = labelOf(templ, count);
    if (sessionOnly || (label && !isKeyName(*label))) {
      // Every key in the HSM is a token object, and has a key name for its label.
    } else if (label) {
      try {
        lib.forget(session.slot, *label);
        keys.push_back(lib.key(session.slot, *label));
      } catch (const ServiceError& error) {
        if (error.status != 404 && error.code != UNSUPPORTED_KEY) throw;
      }
    } else {
      keys = lib.allKeys(session.slot);
    }
  } catch (...) {
    return failure("C_FindObjectsInit", "listing keys");
  }
  bool needsFacts = false;
  for (CK_ULONG i = 0; i < count; i++) needsFacts = needsFacts || needsTokenFacts(templ[i].type);
  session.found = lib.sessionObjectsMatching(session.slot, templ, count);
  for (KeyInfo key : keys) {
    if (needsFacts) key = lib.withFactsIfAny(session.slot, key);
    for (CK_OBJECT_CLASS cls : classesOf(key)) {
      if (cls == CKO_PUBLIC_KEY && lib.publicHidden(session.slot, key.name)) continue;
      KeyObject object{cls, key};
      if (templateMatches([&](CK_ATTRIBUTE_TYPE t) { return attributeOf(object, t); }, templ, count)) session.found.push_back(lib.handleFor(session.slot, key.name, cls));
    }
  }
  session.nextFound = 0;
  session.finding = true;
  return CKR_OK;
}

CK_RV getAttributeValue(Library& lib, Session& session, CK_OBJECT_HANDLE handle, CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
  if (auto object = lib.sessionObject(handle)) {
    return fillAttributes([&](CK_ATTRIBUTE_TYPE t) { return sessionAttributeOf(*object, t); }, templ, count);
  }
  auto ref = lib.object(handle);
  if (!ref || ref->slot != session.slot) return CKR_OBJECT_HANDLE_INVALID;
  bool needsFacts = false;
  for (CK_ULONG i = 0; i < count; i++) needsFacts = needsFacts || needsTokenFacts(templ[i].type);
  KeyInfo key;
  try {
    key = lib.key(ref->slot, ref->name);
    if (needsFacts) key = lib.withFactsIfAny(ref->slot, key);
  } catch (...) {
    return failure("C_GetAttributeValue", "key " + ref->name, CKR_OBJECT_HANDLE_INVALID);
  }
  KeyObject object{ref->objectClass, key};
  return fillAttributes([&](CK_ATTRIBUTE_TYPE t) { return attributeOf(object, t); }, templ, count);
}

CK_RV signInit(Library& lib, Session& session, const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE handle) { return signatureInit(lib, session, mechanism, handle, true); }

CK_RV signFinish(Library& lib, Session& session, CK_BYTE_PTR out, CK_ULONG_PTR outLength) {
  // Taken out of the session at the first step that ends it; the ones before leave it there.
  const SignOperation& operation = *session.sign;
  CK_ULONG length = signatureLength(operation.key);
  if (!out) {
    *outLength = length;
    return CKR_OK;
  }
  if (*outLength < length) {
    *outLength = length;
    return CKR_BUFFER_TOO_SMALL;
  }
  SignRequest request;
  CK_RV rv = signRequestFor(operation.mechanism, operation.key, operation.data, request);
  if (rv != CKR_OK) {
    if (rv == CKR_DATA_INVALID) logLine("C_Sign: key " + operation.key.name + ": CKM_RSA_PKCS signs a SHA-256, SHA-384 or SHA-512 DigestInfo only");
    session.sign.reset();
    return rv;
  }
  // The operation ends here, whatever the HSM answers.
  const SignOperation ended = std::move(*session.sign);
  session.sign.reset();
  try {
    Slot* slot = lib.slot(session.slot);
    json answer = slot->service->call("POST", restPath(ended.key) + "/sign", json{{"alg", request.alg}, {"value", base64url(request.digest)}});
    auto signature = fromBase64url(answer.value("value", ""));
    if (!signature || signature->size() != length) {
      logLine("C_Sign: key " + ended.key.name + ": the HSM answered a signature of the wrong length");
      return CKR_DEVICE_ERROR;
    }
    std::memcpy(out, signature->data(), length);
    *outLength = length;
    return CKR_OK;
  } catch (...) {
    return failure("C_Sign", "key " + ended.key.name);
  }
}

CK_RV verifyInit(Library& lib, Session& session, const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE handle) { return signatureInit(lib, session, mechanism, handle, false); }

CK_RV verifyFinish(Session& session, const Bytes& signature) {
  SignOperation operation = std::move(*session.verify);
  session.verify.reset();
  return verifyLocally(operation.mechanism, operation.key, operation.data, signature);
}

CK_RV digestInit(Session& session, const CK_MECHANISM* mechanism) {
  const char* hash = nullptr;
  switch (mechanism->mechanism) {
    case CKM_SHA_1: hash = "SHA1"; break;
    case CKM_SHA224: hash = "SHA224"; break;
    case CKM_SHA256: hash = "SHA256"; break;
    case CKM_SHA384: hash = "SHA384"; break;
    case CKM_SHA512: hash = "SHA512"; break;
    default: return CKR_MECHANISM_INVALID;
  }
  session.digest = DigestOperation{hash, {}};
  return CKR_OK;
}

CK_RV digestFinish(Session& session, CK_BYTE_PTR out, CK_ULONG_PTR outLength) {
  Bytes digest = digestOf(session.digest->hash, session.digest->data);
  if (!out) {
    *outLength = static_cast<CK_ULONG>(digest.size());
    return CKR_OK;
  }
  if (*outLength < digest.size()) {
    *outLength = static_cast<CK_ULONG>(digest.size());
    return CKR_BUFFER_TOO_SMALL;
  }
  std::memcpy(out, digest.data(), digest.size());
  *outLength = static_cast<CK_ULONG>(digest.size());
  session.digest.reset();
  return CKR_OK;
}

CK_RV generateRandom(Library& lib, Session& session, CK_BYTE_PTR out, CK_ULONG length) {
  // The service gives at most 128 bytes a call.
  constexpr CK_ULONG MAX_PER_CALL = 128;
  try {
    Slot* slot = lib.slot(session.slot);
    for (CK_ULONG done = 0; done < length;) {
      CK_ULONG count = std::min(MAX_PER_CALL, length - done);
      json answer = slot->service->call("POST", "/rng", json{{"count", count}});
      auto bytes = fromBase64url(answer.value("value", ""));
      if (!bytes || bytes->size() != count) {
        logLine("C_GenerateRandom: the HSM answered the wrong number of bytes");
        return CKR_DEVICE_ERROR;
      }
      std::memcpy(out + done, bytes->data(), count);
      OPENSSL_cleanse(bytes->data(), bytes->size());
      done += count;
    }
    return CKR_OK;
  } catch (...) {
    return failure("C_GenerateRandom", "random bytes");
  }
}

CK_RV destroyObject(Library& lib, Session& session, CK_OBJECT_HANDLE handle) {
  if (lib.destroySessionObject(handle)) return CKR_OK;
  auto ref = lib.object(handle);
  if (!ref || ref->slot != session.slot) return CKR_OBJECT_HANDLE_INVALID;
  if (!(session.flags & CKF_RW_SESSION)) return CKR_SESSION_READ_ONLY;
  if (ref->objectClass == CKO_PUBLIC_KEY) {
    lib.hidePublic(ref->slot, ref->name, true);
    return CKR_OK;
  }
  try {
    lib.slot(session.slot)->service->call("DELETE", "/keys/" + urlEncode(ref->name));
    lib.forget(ref->slot, ref->name);
    lib.hidePublic(ref->slot, ref->name, false);
    return CKR_OK;
  } catch (...) {
    return failure("C_DestroyObject", "key " + ref->name, CKR_OBJECT_HANDLE_INVALID);
  }
}

}  // namespace mhsm
