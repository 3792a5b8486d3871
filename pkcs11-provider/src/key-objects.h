// How an emulator key looks through PKCS#11. Each key is a private and a public key object (RSA
// and EC) or one secret key object (oct). CKA_LABEL is the key's name; CKA_ID is the tag
// `pkcs11-id` (hex) when the key has one, else the name's bytes. The PKCS#11 attributes that
// Managed HSM has no field for are kept in tags (pkcs11-id, pkcs11-value-len, pkcs11-local); the rest come from
// the key bundle: key_ops, attributes.exportable, the public JWK.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cryptoki.h"
#include "der.h"

namespace mhsm {

constexpr const char* TAG_ID = "pkcs11-id";
constexpr const char* TAG_VALUE_LEN = "pkcs11-value-len";
constexpr const char* TAG_LOCAL = "pkcs11-local";

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

  bool allows(const std::string& op) const;
  Bytes id() const;
  size_t modulusBits() const;
};

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

AttributeValue attributeOf(const KeyObject& object, CK_ATTRIBUTE_TYPE type);
/** True when every attribute of the template has the object's value. */
bool matches(const KeyObject& object, const CK_ATTRIBUTE* templ, CK_ULONG count);
/** The object classes a key shows as. */
std::vector<CK_OBJECT_CLASS> classesOf(const KeyInfo& key);

}  // namespace mhsm
