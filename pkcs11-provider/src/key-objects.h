// How an emulator key looks through PKCS#11. Each key is a private and a public key object (RSA
// and EC) or one secret key object (oct). CKA_LABEL is the key's name; CKA_ID is the tag
// `pkcs11-id` (hex) when the key has one, else the name's bytes. Usages come from key_ops, the
// public half from the JWK. What the key bundle does not say (CKA_LOCAL, CKA_EXTRACTABLE and the
// other protection attributes, an AES key's CKA_VALUE_LEN) is read from the token itself, through
// the key's attestation (GET /keys/NAME/VERSION/attestation), when an application asks for it.
#pragma once
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cryptoki.h"
#include "der.h"

namespace mhsm {

constexpr const char* TAG_ID = "pkcs11-id";

/** The private or secret key object's attributes as the token states them in the key's attestation. */
struct TokenFacts {
  bool local = false;
  bool extractable = false;
  bool neverExtractable = false;
  bool alwaysSensitive = false;
  bool wrapWithTrusted = false;
  CK_ULONG valueLen = 0;  // 0: the token did not say
};

struct KeyInfo {
  std::string name;
  std::string kid;
  std::string kty;  // RSA, EC or oct (the -HSM suffix dropped)
  const Curve* curve = nullptr;
  Bytes n, e, x, y;
  std::vector<std::string> keyOps;
  bool exportable = false;
  bool enabled = true;
  std::map<std::string, std::string> tags;
  std::optional<TokenFacts> facts;

  bool allows(const std::string& op) const;
  Bytes id() const;
  size_t modulusBits() const;
};

/** The facts of an attestation's private-key statement (its JWS payload); nullopt if it has none. */
std::optional<TokenFacts> factsOfAttestation(const nlohmann::json& bundle);
/** True for the attributes only the token's facts answer. */
bool needsTokenFacts(CK_ATTRIBUTE_TYPE type);
std::string versionOfKid(const std::string& kid);
/** /keys/NAME/VERSION: the key version whose public half the library holds. */
std::string restPath(const KeyInfo& key);

/** A key bundle of the REST API as a KeyInfo; nullopt when it is not a key this library shows. */
std::optional<KeyInfo> keyFromBundle(const nlohmann::json& bundle);
/** A Managed HSM key name: 1 to 127 letters, digits and dashes. */
bool isKeyName(const std::string& name);
/** The key's name from a kid (https://host/keys/NAME[/VERSION]). */
std::string nameOfKid(const std::string& kid);

struct KeyObject {
  CK_OBJECT_CLASS objectClass;
  KeyInfo key;
};

enum class AttributeState { Value, Sensitive, Invalid };
struct AttributeValue {
  AttributeState state = AttributeState::Invalid;
  Bytes bytes;
};

/** An attribute's value as PKCS#11 lays it out: one CK_BBOOL, one CK_ULONG. */
inline Bytes ofBool(bool value) { return {static_cast<uint8_t>(value ? CK_TRUE : CK_FALSE)}; }
inline Bytes ofUlong(CK_ULONG value) {
  Bytes out(sizeof(CK_ULONG));
  std::memcpy(out.data(), &value, sizeof value);
  return out;
}

AttributeValue attributeOf(const KeyObject& object, CK_ATTRIBUTE_TYPE type);
/** True when every attribute of the template has the object's value, as `attributeOf` gives it. */
template <typename AttributeOf>
bool templateMatches(AttributeOf attributeOf, const CK_ATTRIBUTE* templ, CK_ULONG count) {
  for (CK_ULONG i = 0; i < count; i++) {
    AttributeValue have = attributeOf(templ[i].type);
    if (have.state != AttributeState::Value || have.bytes.size() != templ[i].ulValueLen) return false;
    if (templ[i].ulValueLen > 0 && std::memcmp(have.bytes.data(), templ[i].pValue, templ[i].ulValueLen) != 0) return false;
  }
  return true;
}

/** C_GetAttributeValue's rules over `attributeOf`: lengths, sensitive and unknown attributes. */
template <typename AttributeOf>
CK_RV fillAttributes(AttributeOf attributeOf, CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
  CK_RV rv = CKR_OK;
  for (CK_ULONG i = 0; i < count; i++) {
    AttributeValue value = attributeOf(templ[i].type);
    if (value.state == AttributeState::Sensitive) {
      templ[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
      rv = CKR_ATTRIBUTE_SENSITIVE;
    } else if (value.state == AttributeState::Invalid) {
      templ[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
      if (rv == CKR_OK) rv = CKR_ATTRIBUTE_TYPE_INVALID;
    } else if (!templ[i].pValue) {
      templ[i].ulValueLen = value.bytes.size();
    } else if (templ[i].ulValueLen < value.bytes.size()) {
      templ[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
      if (rv == CKR_OK) rv = CKR_BUFFER_TOO_SMALL;
    } else {
      if (!value.bytes.empty()) std::memcpy(templ[i].pValue, value.bytes.data(), value.bytes.size());
      templ[i].ulValueLen = value.bytes.size();
    }
  }
  return rv;
}
/** The object classes a key shows as. */
std::vector<CK_OBJECT_CLASS> classesOf(const KeyInfo& key);

}  // namespace mhsm
