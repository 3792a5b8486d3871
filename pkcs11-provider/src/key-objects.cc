#include "key-objects.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace mhsm {
namespace {

using nlohmann::json;

Bytes ofString(const std::string& value) { return Bytes(value.begin(), value.end()); }

std::optional<Bytes> hexDecode(const std::string& hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  Bytes out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<uint8_t>(hi * 16 + lo));
  }
  return out;
}

Bytes field(const json& jwk, const char* name) {
  if (!jwk.contains(name) || !jwk[name].is_string()) return {};
  return fromBase64url(jwk[name].get<std::string>()).value_or(Bytes{});
}

AttributeValue value(Bytes bytes) { return {AttributeState::Value, std::move(bytes)}; }
AttributeValue invalid() { return {AttributeState::Invalid, {}}; }

}  // namespace

bool KeyInfo::allows(const std::string& op) const { return std::find(keyOps.begin(), keyOps.end(), op) != keyOps.end(); }

Bytes KeyInfo::id() const {
  if (auto tag = tags.find(TAG_ID); tag != tags.end()) {
    if (auto bytes = hexDecode(tag->second)) return *bytes;
  }
  return ofString(name);
}

size_t KeyInfo::modulusBits() const {
  size_t i = 0;
  while (i < n.size() && n[i] == 0) i++;
  if (i == n.size()) return 0;
  size_t bits = (n.size() - i) * 8;
  for (uint8_t top = n[i]; (top & 0x80) == 0; top <<= 1) bits--;
  return bits;
}

bool isKeyName(const std::string& name) {
  if (name.empty() || name.size() > 127) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

std::string nameOfKid(const std::string& kid) {
  size_t at = kid.find("/keys/");
  if (at == std::string::npos) return "";
  std::string rest = kid.substr(at + 6);
  return rest.substr(0, rest.find('/'));
}

std::string versionOfKid(const std::string& kid) {
  size_t at = kid.find("/keys/");
  if (at == std::string::npos) return "";
  std::string rest = kid.substr(at + 6);
  size_t slash = rest.find('/');
  return slash == std::string::npos ? "" : rest.substr(slash + 1);
}

std::string restPath(const KeyInfo& key) {
  std::string version = versionOfKid(key.kid);
  std::string path = "/keys/";
  for (char c : key.name) path += c;  // a key name is letters, digits and dashes: nothing to escape
  return version.empty() ? path : path + "/" + version;
}

bool needsTokenFacts(CK_ATTRIBUTE_TYPE type) {
  switch (type) {
    case CKA_LOCAL:
    case CKA_ALWAYS_SENSITIVE:
    case CKA_EXTRACTABLE:
    case CKA_NEVER_EXTRACTABLE:
    case CKA_WRAP_WITH_TRUSTED:
    case CKA_VALUE_LEN: return true;
    default: return false;
  }
}

std::optional<TokenFacts> factsOfAttestation(const json& bundle) {
  if (!bundle.contains("attributes") || !bundle["attributes"].is_object()) return std::nullopt;
  const json& attributes = bundle["attributes"];
  if (!attributes.contains("attestation") || !attributes["attestation"].is_object()) return std::nullopt;
  auto statement = fromBase64url(attributes["attestation"].value("privateKeyAttestation", ""));
  if (!statement) return std::nullopt;
  // A compact JWS; TLS to the emulator vouches for it here, so the payload is read, not verified.
  std::string jws(statement->begin(), statement->end());
  size_t first = jws.find('.'), second = jws.find('.', first + 1);
  if (first == std::string::npos || second == std::string::npos) return std::nullopt;
  auto payload = fromBase64url(jws.substr(first + 1, second - first - 1));
  if (!payload) return std::nullopt;
  json claims = json::parse(payload->begin(), payload->end(), nullptr, false);
  if (!claims.is_object() || !claims.contains("attributes") || !claims["attributes"].is_object()) return std::nullopt;
  const json& a = claims["attributes"];
  TokenFacts facts;
  facts.local = a.value("CKA_LOCAL", false);
  facts.extractable = a.value("CKA_EXTRACTABLE", false);
  facts.neverExtractable = a.value("CKA_NEVER_EXTRACTABLE", false);
  facts.alwaysSensitive = a.value("CKA_ALWAYS_SENSITIVE", false);
  facts.wrapWithTrusted = a.value("CKA_WRAP_WITH_TRUSTED", false);
  facts.valueLen = a.contains("CKA_VALUE_LEN") && a["CKA_VALUE_LEN"].is_number_unsigned() ? a["CKA_VALUE_LEN"].get<CK_ULONG>() : 0;
  return facts;
}

std::optional<KeyInfo> keyFromBundle(const json& bundle) {
  if (!bundle.is_object() || !bundle.contains("key") || !bundle["key"].is_object()) return std::nullopt;
  const json& jwk = bundle["key"];
  KeyInfo key;
  key.kid = jwk.value("kid", "");
  key.name = nameOfKid(key.kid);
  std::string kty = jwk.value("kty", "");
  if (kty.size() > 4 && kty.compare(kty.size() - 4, 4, "-HSM") == 0) kty.resize(kty.size() - 4);
  key.kty = kty;
  if (kty == "RSA") {
    key.n = field(jwk, "n");
    key.e = field(jwk, "e");
  } else if (kty == "EC") {
    key.curve = curveByName(jwk.value("crv", ""));
    if (!key.curve) return std::nullopt;
    key.x = field(jwk, "x");
    key.y = field(jwk, "y");
  } else if (kty != "oct") {
    return std::nullopt;
  }
  if (jwk.contains("key_ops") && jwk["key_ops"].is_array()) {
    for (const json& op : jwk["key_ops"]) {
      if (op.is_string()) key.keyOps.push_back(op.get<std::string>());
    }
  }
  if (bundle.contains("attributes") && bundle["attributes"].is_object()) {
    key.exportable = bundle["attributes"].value("exportable", false);
    key.enabled = bundle["attributes"].value("enabled", true);
  }
  if (bundle.contains("tags") && bundle["tags"].is_object()) {
    for (auto& [tag, text] : bundle["tags"].items()) {
      if (text.is_string()) key.tags[tag] = text.get<std::string>();
    }
  }
  return key;
}

std::vector<CK_OBJECT_CLASS> classesOf(const KeyInfo& key) {
  if (key.kty == "oct") return {CKO_SECRET_KEY};
  return {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
}

AttributeValue attributeOf(const KeyObject& object, CK_ATTRIBUTE_TYPE type) {
  const KeyInfo& key = object.key;
  const CK_OBJECT_CLASS cls = object.objectClass;
  const bool isPrivate = cls == CKO_PRIVATE_KEY, isPublic = cls == CKO_PUBLIC_KEY, isSecret = cls == CKO_SECRET_KEY;
  switch (type) {
    case CKA_CLASS: return value(ofUlong(cls));
    case CKA_KEY_TYPE: return value(ofUlong(key.kty == "RSA" ? CKK_RSA : key.kty == "EC" ? CKK_EC : CKK_AES));
    case CKA_ID: return value(key.id());
    case CKA_LABEL: return value(ofString(key.name));
    case CKA_TOKEN: return value(ofBool(true));
    // Access is the configured principal's, by its roles, not a PIN's: nothing is hidden before C_Login.
    case CKA_PRIVATE: return value(ofBool(false));
    case CKA_MODIFIABLE: return value(ofBool(false));
    case CKA_COPYABLE: return value(ofBool(false));
    case CKA_DESTROYABLE: return value(ofBool(true));
    case CKA_DERIVE: return value(ofBool(false));
    // The REST API does not say whether a key was generated or imported: true only for the keys
    // this library generated, which it tags so.
    case CKA_LOCAL: return key.facts ? value(ofBool(key.facts->local)) : invalid();
    case CKA_SIGN: return isPublic ? invalid() : value(ofBool(key.allows("sign")));
    case CKA_DECRYPT: return isPublic ? invalid() : value(ofBool(key.allows("decrypt")));
    case CKA_UNWRAP: return isPublic ? invalid() : value(ofBool(key.allows("unwrapKey")));
    case CKA_VERIFY: return isPrivate ? invalid() : value(ofBool(key.allows("verify")));
    case CKA_ENCRYPT: return isPrivate ? invalid() : value(ofBool(key.allows("encrypt")));
    case CKA_WRAP: return isPrivate ? invalid() : value(ofBool(key.allows("wrapKey")));
    case CKA_SIGN_RECOVER:
    case CKA_VERIFY_RECOVER: return value(ofBool(false));
    case CKA_SENSITIVE: return isPublic ? invalid() : value(ofBool(true));
    case CKA_ALWAYS_SENSITIVE: return isPublic || !key.facts ? invalid() : value(ofBool(key.facts->alwaysSensitive));
    case CKA_EXTRACTABLE: return isPublic || !key.facts ? invalid() : value(ofBool(key.facts->extractable));
    case CKA_NEVER_EXTRACTABLE: return isPublic || !key.facts ? invalid() : value(ofBool(key.facts->neverExtractable));
    case CKA_WRAP_WITH_TRUSTED: return isPublic || !key.facts ? invalid() : value(ofBool(key.facts->wrapWithTrusted));
    case CKA_ALWAYS_AUTHENTICATE: return isPublic ? invalid() : value(ofBool(false));
    case CKA_TRUSTED: return isPrivate ? invalid() : value(ofBool(false));
    case CKA_MODULUS: return key.kty == "RSA" && !isSecret ? value(key.n) : invalid();
    case CKA_PUBLIC_EXPONENT: return key.kty == "RSA" && !isSecret ? value(key.e) : invalid();
    case CKA_MODULUS_BITS: return key.kty == "RSA" && isPublic ? value(ofUlong(key.modulusBits())) : invalid();
    case CKA_EC_PARAMS: return key.kty == "EC" ? value(key.curve->params) : invalid();
    case CKA_EC_POINT: return key.kty == "EC" && isPublic ? value(ecPointOctetString(key.x, key.y)) : invalid();
    case CKA_VALUE_LEN: return isSecret && key.facts && key.facts->valueLen > 0 ? value(ofUlong(key.facts->valueLen)) : invalid();
    case CKA_VALUE:
    case CKA_PRIVATE_EXPONENT:
    case CKA_PRIME_1:
    case CKA_PRIME_2:
    case CKA_EXPONENT_1:
    case CKA_EXPONENT_2:
    case CKA_COEFFICIENT:
      if (isPublic) return invalid();
      if (type != CKA_VALUE && key.kty != "RSA") return invalid();
      return {AttributeState::Sensitive, {}};
    default: return invalid();
  }
}


}  // namespace mhsm
