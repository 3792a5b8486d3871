// C_Encrypt and C_Decrypt: the HSM's encrypt and decrypt operations over REST, RSA encryption
// here with the public key. The whole input is gathered first (C_*Update adds to it), as the REST
// operations take one message; the output appears at the one-part call or at C_*Final.
#include <openssl/crypto.h>

#include <cstring>

#include "local-crypto.h"
#include "log.h"
#include "session.h"

namespace mhsm {
namespace {

using nlohmann::json;

std::optional<CipherOperation>& operationOf(Session& session, bool encrypt) { return encrypt ? session.encrypt : session.decrypt; }

/** The operation's output, computed once: over REST, or here for RSA encryption. */
CK_RV compute(Library& lib, Session& session, CipherOperation& op, bool encrypt) {
  const char* function = encrypt ? "C_Encrypt" : "C_Decrypt";
  if (op.sessionKey) {
    auto output = aesLocally(op.mechanism.type, *op.sessionKey, op.mechanism.iv, op.mechanism.aad, encrypt, op.data);
    if (!output) {
      if (encrypt) return CKR_DATA_LEN_RANGE;
      return op.mechanism.type == CKM_AES_CBC ? CKR_ENCRYPTED_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_INVALID;
    }
    op.result = std::move(*output);
    return CKR_OK;
  }
  const bool rsa = op.key.kty == "RSA";
  if (encrypt && rsa) {
    auto sealed = rsaEncryptLocally(op.mechanism, op.key, op.data);
    if (!sealed) return CKR_DATA_LEN_RANGE;
    op.result = std::move(*sealed);
    return CKR_OK;
  }
  std::string alg = cipherAlgorithm(op.mechanism, op.key);
  if (alg.empty()) {
    logLine(std::string(function) + ": key " + op.key.name + ": the token did not state the AES key's size");
    return CKR_KEY_SIZE_RANGE;
  }
  json body = {{"alg", alg}};
  Bytes input = op.data;
  if (op.mechanism.type == CKM_AES_CBC && input.size() % 16 != 0) return encrypt ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
  if (op.mechanism.type == CKM_AES_GCM && !encrypt) {
    if (input.size() < GCM_TAG_BYTES) return CKR_ENCRYPTED_DATA_LEN_RANGE;
    Bytes tag(input.end() - GCM_TAG_BYTES, input.end());
    input.resize(input.size() - GCM_TAG_BYTES);
    body["tag"] = base64url(tag);
  }
  body["value"] = base64url(input);
  OPENSSL_cleanse(input.data(), input.size());
  if (!op.mechanism.iv.empty()) body["iv"] = base64url(op.mechanism.iv);
  if (!op.mechanism.aad.empty()) body["aad"] = base64url(op.mechanism.aad);
  try {
    json answer = lib.slot(session.slot)->service->call("POST", restPath(op.key) + (encrypt ? "/encrypt" : "/decrypt"), body);
    auto value = fromBase64url(answer.value("value", ""));
    if (!value) return CKR_DEVICE_ERROR;
    // The caller's IV is what the ciphertext was made with, or it could never be opened.
    if (encrypt && answer.contains("iv") && fromBase64url(answer.value("iv", "")) != std::optional<Bytes>(op.mechanism.iv)) {
      logLine(std::string(function) + ": key " + op.key.name + ": the HSM encrypted with another IV than the one given");
      return CKR_DEVICE_ERROR;
    }
    if (encrypt && op.mechanism.type == CKM_AES_GCM) {
      auto tag = fromBase64url(answer.value("tag", ""));
      if (!tag || tag->size() != GCM_TAG_BYTES) return CKR_DEVICE_ERROR;
      value->insert(value->end(), tag->begin(), tag->end());
    }
    op.result = std::move(*value);
    return CKR_OK;
  } catch (const ServiceError& error) {
    // A ciphertext the key does not open is the caller's data, not the device's failure.
    if (!encrypt && error.status == 400) {
      logLine(std::string(function) + ": key " + op.key.name + ": " + error.what());
      return op.mechanism.type == CKM_AES_GCM || op.mechanism.type == CKM_AES_CBC_PAD || op.key.kty == "RSA" ? CKR_ENCRYPTED_DATA_INVALID : CKR_ENCRYPTED_DATA_LEN_RANGE;
    }
    return failure(function, "key " + op.key.name);
  } catch (...) {
    return failure(function, "key " + op.key.name);
  }
}

}  // namespace

CK_RV cipherInit(Library& lib, Session& session, const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE handle, bool encrypt) {
  const char* function = encrypt ? "C_EncryptInit" : "C_DecryptInit";
  // A session key (an unwrapped content key, say) encrypts here, as any client of the service
  // does with the key its unwrapKey returned.
  if (auto object = lib.sessionObject(handle)) {
    if (object->keyType != CKK_AES) return CKR_KEY_TYPE_INCONSISTENT;
    if (object->usages.count(encrypt ? CKA_ENCRYPT : CKA_DECRYPT) == 0) return CKR_KEY_FUNCTION_NOT_PERMITTED;
    CipherOperation op;
    op.key.kty = "oct";
    op.key.name = "(session key)";
    op.sessionKey = object->value;
    CK_RV rv = cipherMechanismFor(mechanism, op.key, encrypt, op.mechanism);
    if (rv != CKR_OK) return rv;
    if (op.mechanism.type != CKM_AES_GCM && op.mechanism.type != CKM_AES_CBC && op.mechanism.type != CKM_AES_CBC_PAD) return CKR_MECHANISM_INVALID;
    operationOf(session, encrypt) = std::move(op);
    return CKR_OK;
  }
  CipherOperation op;
  // Encryption with an RSA key takes its public key object; decryption its private key object.
  CK_RV rv = hsmKeyFor(lib, session, handle, encrypt ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY, true, encrypt ? "encrypt" : "decrypt", op.key, function);
  if (rv != CKR_OK) return rv;
  try {
    // An AES key's size, for the algorithm's name, is the token's to say.
    if (op.key.kty == "oct") op.key = lib.withFacts(session.slot, op.key);
  } catch (...) {
    return failure(function, "key " + op.key.name, CKR_KEY_HANDLE_INVALID);
  }
  rv = cipherMechanismFor(mechanism, op.key, encrypt, op.mechanism);
  if (rv != CKR_OK) return rv;
  operationOf(session, encrypt) = std::move(op);
  return CKR_OK;
}

CK_RV cipherFinish(Library& lib, Session& session, bool encrypt, CK_BYTE_PTR out, CK_ULONG_PTR outLength) {
  CipherOperation& op = *operationOf(session, encrypt);
  if (!op.result) {
    CK_ULONG bound = cipherOutputBound(op.mechanism, op.key, encrypt, static_cast<CK_ULONG>(op.data.size()));
    if (!out) {
      *outLength = bound;
      return CKR_OK;
    }
    CK_RV rv = compute(lib, session, op, encrypt);
    if (rv != CKR_OK) {
      operationOf(session, encrypt).reset();
      return rv;
    }
  }
  Bytes& result = *op.result;
  if (!out) {
    *outLength = static_cast<CK_ULONG>(result.size());
    return CKR_OK;
  }
  if (*outLength < result.size()) {
    *outLength = static_cast<CK_ULONG>(result.size());
    return CKR_BUFFER_TOO_SMALL;
  }
  if (!result.empty()) std::memcpy(out, result.data(), result.size());
  *outLength = static_cast<CK_ULONG>(result.size());
  OPENSSL_cleanse(result.data(), result.size());
  OPENSSL_cleanse(op.data.data(), op.data.size());
  operationOf(session, encrypt).reset();
  return CKR_OK;
}

}  // namespace mhsm
