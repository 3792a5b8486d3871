// C_GenerateKeyPair and C_GenerateKey: a template becomes a create request. The key's name is
// CKA_LABEL (a Managed HSM key name: letters, digits and dashes); CKA_ID, when it is not the
// name's own bytes, goes into the tag pkcs11-id. A name already taken is refused: over REST,
// creating it again would make a new version of someone's key.
#include <openssl/rand.h>

#include <cstring>
#include <set>

#include "log.h"
#include "session.h"
#include "template-values.h"

namespace mhsm {
namespace {

using nlohmann::json;

struct KeyTemplate {
  std::optional<std::string> label;
  std::optional<Bytes> id;
  std::optional<CK_ULONG> modulusBits;
  std::optional<Bytes> publicExponent;
  std::optional<Bytes> ecParams;
  std::optional<CK_ULONG> valueLen;
  std::set<std::string> usages;  // key_ops named by CKA_SIGN, CKA_VERIFY, ... set true
  bool extractable = false;
  bool wrapWithTrusted = false;
};

const std::set<CK_ATTRIBUTE_TYPE> IGNORED = {CKA_CLASS, CKA_KEY_TYPE, CKA_PRIVATE, CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE, CKA_SUBJECT, CKA_START_DATE, CKA_END_DATE, CKA_DERIVE};


CK_RV readTemplate(const CK_ATTRIBUTE* templ, CK_ULONG count, KeyTemplate& out, const char* function) {
  for (CK_ULONG i = 0; i < count; i++) {
    const CK_ATTRIBUTE& a = templ[i];
    if (!wellFormed(a)) return CKR_ATTRIBUTE_VALUE_INVALID;
    const auto* bytes = static_cast<const uint8_t*>(a.pValue);
    CK_ULONG number = 0;
    switch (a.type) {
      case CKA_LABEL: out.label = std::string(reinterpret_cast<const char*>(bytes), a.ulValueLen); break;
      case CKA_ID: out.id = Bytes(bytes, bytes + a.ulValueLen); break;
      case CKA_MODULUS_BITS:
        if (!ulongOf(a, number)) return CKR_ATTRIBUTE_VALUE_INVALID;
        out.modulusBits = number;
        break;
      case CKA_PUBLIC_EXPONENT: out.publicExponent = Bytes(bytes, bytes + a.ulValueLen); break;
      case CKA_EC_PARAMS: out.ecParams = Bytes(bytes, bytes + a.ulValueLen); break;
      case CKA_VALUE_LEN:
        if (!ulongOf(a, number)) return CKR_ATTRIBUTE_VALUE_INVALID;
        out.valueLen = number;
        break;
      case CKA_SIGN: if (boolOf(a)) out.usages.insert("sign"); break;
      case CKA_VERIFY: if (boolOf(a)) out.usages.insert("verify"); break;
      case CKA_ENCRYPT: if (boolOf(a)) out.usages.insert("encrypt"); break;
      case CKA_DECRYPT: if (boolOf(a)) out.usages.insert("decrypt"); break;
      case CKA_WRAP: if (boolOf(a)) out.usages.insert("wrapKey"); break;
      case CKA_UNWRAP: if (boolOf(a)) out.usages.insert("unwrapKey"); break;
      case CKA_TOKEN:
        if (!boolOf(a)) {
          logLine(std::string(function) + ": CKA_TOKEN false: every key of the HSM is a token object");
          return CKR_TEMPLATE_INCONSISTENT;
        }
        break;
      case CKA_SENSITIVE:
        if (!boolOf(a)) {
          logLine(std::string(function) + ": CKA_SENSITIVE false: the HSM's keys are always sensitive");
          return CKR_TEMPLATE_INCONSISTENT;
        }
        break;
      case CKA_EXTRACTABLE: out.extractable = boolOf(a); break;
      case CKA_WRAP_WITH_TRUSTED: out.wrapWithTrusted = boolOf(a); break;
      default:
        if (IGNORED.count(a.type) == 0) {
          logLine(std::string(function) + ": attribute 0x" + [](CK_ULONG t) { char b[20]; std::snprintf(b, sizeof b, "%lx", t); return std::string(b); }(a.type) + " is not one a key of the HSM can be made with");
          return CKR_ATTRIBUTE_TYPE_INVALID;
        }
    }
  }
  // Every key of the HSM is extractable only wrapped under the security domain's trusted key (for
  // backups): a template may ask for that, not for a key any key could wrap.
  if (out.extractable && !out.wrapWithTrusted) {
    logLine(std::string(function) + ": CKA_EXTRACTABLE true without CKA_WRAP_WITH_TRUSTED: a key leaves Managed HSM only wrapped under its security domain's key, or by key release under a policy set over REST");
    return CKR_TEMPLATE_INCONSISTENT;
  }
  return CKR_OK;
}

std::string hex(const Bytes& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}


/** The key's name, and the tags that carry what the name does not. */
CK_RV nameAndTags(const KeyTemplate& t, std::string& name, json& tags, const char* function) {
  if (t.label) {
    name = *t.label;
    if (!isKeyName(name)) {
      logLine(std::string(function) + ": CKA_LABEL '" + name.substr(0, 130) + "': a key name is 1 to 127 letters, digits and dashes");
      return CKR_ATTRIBUTE_VALUE_INVALID;
    }
  } else if (t.id && !t.id->empty() && t.id->size() <= 60) {
    name = "p11-" + hex(*t.id);
  } else {
    Bytes random(8);
    RAND_bytes(random.data(), static_cast<int>(random.size()));
    name = "p11-" + hex(random);
  }
  tags = json::object();
  if (t.id && *t.id != Bytes(name.begin(), name.end())) tags[TAG_ID] = hex(*t.id);
  return CKR_OK;
}

/** Refuses a name already taken; CKR_OK when the HSM has no such key. */
CK_RV nameIsFree(Library& lib, Session& session, const std::string& name, const char* function) {
  try {
    lib.slot(session.slot)->service->call("GET", "/keys/" + urlEncode(name));
  } catch (const ServiceError& error) {
    if (error.status == 404) return CKR_OK;
    return failure(function, "key " + name);
  } catch (...) {
    return failure(function, "key " + name);
  }
  logLine(std::string(function) + ": a key named " + name + " exists; making it again would give it a new version");
  return CKR_ATTRIBUTE_VALUE_INVALID;
}

CK_RV create(Library& lib, Session& session, const std::string& name, const json& body, KeyInfo& made, const char* function) {
  try {
    json answer = lib.slot(session.slot)->service->call("POST", "/keys/" + urlEncode(name) + "/create", body);
    auto key = keyFromBundle(answer);
    if (!key) return CKR_DEVICE_ERROR;
    lib.remember(session.slot, *key);
    made = *key;
    return CKR_OK;
  } catch (...) {
    return failure(function, "key " + name);
  }
}

}  // namespace

CK_RV generateKeyPair(Library& lib, Session& session, const CK_MECHANISM* mechanism, const CK_ATTRIBUTE* publicTemplate, CK_ULONG publicCount,
                      const CK_ATTRIBUTE* privateTemplate, CK_ULONG privateCount, CK_OBJECT_HANDLE_PTR publicKey, CK_OBJECT_HANDLE_PTR privateKey) {
  const char* function = "C_GenerateKeyPair";
  if (mechanism->mechanism != CKM_RSA_PKCS_KEY_PAIR_GEN && mechanism->mechanism != CKM_EC_KEY_PAIR_GEN) return CKR_MECHANISM_INVALID;
  KeyTemplate t;
  CK_RV rv = readTemplate(publicTemplate, publicCount, t, function);
  if (rv == CKR_OK) rv = readTemplate(privateTemplate, privateCount, t, function);
  if (rv != CKR_OK) return rv;
  json body;
  if (mechanism->mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN) {
    CK_ULONG bits = t.modulusBits.value_or(0);
    if (bits != 2048 && bits != 3072 && bits != 4096) {
      logLine("C_GenerateKeyPair: CKA_MODULUS_BITS must be 2048, 3072 or 4096");
      return t.modulusBits ? CKR_ATTRIBUTE_VALUE_INVALID : CKR_TEMPLATE_INCOMPLETE;
    }
    body = {{"kty", "RSA-HSM"}, {"key_size", bits}};
    if (t.publicExponent) {
      unsigned long exponent = 0;
      for (uint8_t b : *t.publicExponent) exponent = exponent * 256 + b;
      if (t.publicExponent->size() > 4 || exponent < 3 || exponent % 2 == 0) return CKR_ATTRIBUTE_VALUE_INVALID;
      body["public_exponent"] = exponent;
    }
  } else {
    const Curve* curve = t.ecParams ? curveByParams(t.ecParams->data(), t.ecParams->size()) : nullptr;
    if (!curve) {
      logLine("C_GenerateKeyPair: CKA_EC_PARAMS must name P-256, P-384, P-521 or secp256k1 by its OID");
      return t.ecParams ? CKR_ATTRIBUTE_VALUE_INVALID : CKR_TEMPLATE_INCOMPLETE;
    }
    body = {{"kty", "EC-HSM"}, {"crv", curve->jwkName}};
  }
  std::string name;
  json tags;
  rv = nameAndTags(t, name, tags, function);
  if (rv == CKR_OK) rv = nameIsFree(lib, session, name, function);
  if (rv != CKR_OK) return rv;
  if (!t.usages.empty()) body["key_ops"] = std::vector<std::string>(t.usages.begin(), t.usages.end());
  if (!tags.empty()) body["tags"] = tags;
  KeyInfo made;
  rv = create(lib, session, name, body, made, function);
  if (rv != CKR_OK) return rv;
  lib.hidePublic(session.slot, made.name, false);
  *publicKey = lib.handleFor(session.slot, made.name, CKO_PUBLIC_KEY);
  *privateKey = lib.handleFor(session.slot, made.name, CKO_PRIVATE_KEY);
  return CKR_OK;
}

CK_RV generateKey(Library& lib, Session& session, const CK_MECHANISM* mechanism, const CK_ATTRIBUTE* templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR key) {
  const char* function = "C_GenerateKey";
  if (mechanism->mechanism != CKM_AES_KEY_GEN) return CKR_MECHANISM_INVALID;
  KeyTemplate t;
  CK_RV rv = readTemplate(templ, count, t, function);
  if (rv != CKR_OK) return rv;
  CK_ULONG bytes = t.valueLen.value_or(0);
  if (bytes != 16 && bytes != 24 && bytes != 32) {
    logLine("C_GenerateKey: CKA_VALUE_LEN must be 16, 24 or 32");
    return t.valueLen ? CKR_ATTRIBUTE_VALUE_INVALID : CKR_TEMPLATE_INCOMPLETE;
  }
  std::string name;
  json tags;
  rv = nameAndTags(t, name, tags, function);
  if (rv == CKR_OK) rv = nameIsFree(lib, session, name, function);
  if (rv != CKR_OK) return rv;
  json body = {{"kty", "oct-HSM"}, {"key_size", bytes * 8}};
  if (!tags.empty()) body["tags"] = tags;
  if (!t.usages.empty()) body["key_ops"] = std::vector<std::string>(t.usages.begin(), t.usages.end());
  KeyInfo made;
  rv = create(lib, session, name, body, made, function);
  if (rv != CKR_OK) return rv;
  *key = lib.handleFor(session.slot, made.name, CKO_SECRET_KEY);
  return CKR_OK;
}

}  // namespace mhsm
