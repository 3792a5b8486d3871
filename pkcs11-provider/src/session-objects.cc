#include "session-objects.h"

#include <openssl/crypto.h>

#include <cstring>

#include "log.h"
#include "template-values.h"

namespace mhsm {
SessionObject::~SessionObject() { OPENSSL_cleanse(value.data(), value.size()); }

CK_RV sessionObjectFrom(const CK_ATTRIBUTE* templ, CK_ULONG count, bool valueGiven, SessionObject& out, const char* function) {
  bool haveValue = valueGiven;
  CK_ULONG valueLen = 0;
  for (CK_ULONG i = 0; i < count; i++) {
    const CK_ATTRIBUTE& a = templ[i];
    if (!wellFormed(a)) return CKR_ATTRIBUTE_VALUE_INVALID;
    const auto* bytes = static_cast<const uint8_t*>(a.pValue);
    CK_ULONG number = 0;
    switch (a.type) {
      case CKA_CLASS:
        if (!ulongOf(a, number) || number != CKO_SECRET_KEY) {
          logLine(std::string(function) + ": CKA_CLASS: session objects are secret keys");
          return CKR_TEMPLATE_INCONSISTENT;
        }
        break;
      case CKA_KEY_TYPE:
        if (!ulongOf(a, number) || (number != CKK_AES && number != CKK_GENERIC_SECRET)) return CKR_ATTRIBUTE_VALUE_INVALID;
        out.keyType = number;
        break;
      case CKA_TOKEN:
        if (boolOf(a)) {
          logLine(std::string(function) + ": CKA_TOKEN true: keys in the HSM are made with C_GenerateKey or C_GenerateKeyPair; this makes session objects only");
          return CKR_TEMPLATE_INCONSISTENT;
        }
        break;
      case CKA_VALUE:
        if (valueGiven) return CKR_TEMPLATE_INCONSISTENT;
        out.value.assign(bytes, bytes + a.ulValueLen);
        haveValue = true;
        break;
      case CKA_VALUE_LEN:
        if (!ulongOf(a, valueLen)) return CKR_ATTRIBUTE_VALUE_INVALID;
        break;
      case CKA_LABEL: out.label.assign(reinterpret_cast<const char*>(bytes), a.ulValueLen); break;
      case CKA_ID: out.id.assign(bytes, bytes + a.ulValueLen); break;
      case CKA_SENSITIVE: out.sensitive = boolOf(a); break;
      case CKA_EXTRACTABLE: out.extractable = boolOf(a); break;
      case CKA_ENCRYPT:
      case CKA_DECRYPT:
      case CKA_WRAP:
      case CKA_UNWRAP:
        if (boolOf(a)) out.usages.insert(a.type);
        break;
      case CKA_PRIVATE:
      case CKA_MODIFIABLE:
      case CKA_SIGN:
      case CKA_VERIFY:
      case CKA_DERIVE:
        break;
      default:
        logLine(std::string(function) + ": attribute 0x" + [](CK_ULONG t) { char b[20]; std::snprintf(b, sizeof b, "%lx", t); return std::string(b); }(a.type) + " is not one a session key can have");
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
  }
  if (!haveValue) return CKR_TEMPLATE_INCOMPLETE;
  if (valueLen != 0 && valueLen != out.value.size() && !valueGiven) return CKR_TEMPLATE_INCONSISTENT;
  if (!valueGiven && out.keyType == CKK_AES && out.value.size() != 16 && out.value.size() != 24 && out.value.size() != 32) return CKR_ATTRIBUTE_VALUE_INVALID;
  return CKR_OK;
}

AttributeValue sessionAttributeOf(const SessionObject& object, CK_ATTRIBUTE_TYPE type) {
  auto value = [](Bytes bytes) { return AttributeValue{AttributeState::Value, std::move(bytes)}; };
  switch (type) {
    case CKA_CLASS: return value(ofUlong(CKO_SECRET_KEY));
    case CKA_KEY_TYPE: return value(ofUlong(object.keyType));
    case CKA_TOKEN: return value(ofBool(false));
    case CKA_PRIVATE: return value(ofBool(false));
    case CKA_MODIFIABLE: return value(ofBool(false));
    case CKA_LOCAL: return value(ofBool(false));
    case CKA_LABEL: return value(Bytes(object.label.begin(), object.label.end()));
    case CKA_ID: return value(object.id);
    case CKA_VALUE_LEN: return value(ofUlong(object.value.size()));
    case CKA_SENSITIVE: return value(ofBool(object.sensitive));
    case CKA_ALWAYS_SENSITIVE: return value(ofBool(false));
    case CKA_EXTRACTABLE: return value(ofBool(object.extractable));
    case CKA_NEVER_EXTRACTABLE: return value(ofBool(false));
    case CKA_ENCRYPT:
    case CKA_DECRYPT:
    case CKA_WRAP:
    case CKA_UNWRAP: return value(ofBool(object.usages.count(type) > 0));
    case CKA_SIGN:
    case CKA_VERIFY:
    case CKA_DERIVE: return value(ofBool(false));
    case CKA_VALUE:
      if (object.sensitive || !object.extractable) return {AttributeState::Sensitive, {}};
      return value(object.value);
    default: return {AttributeState::Invalid, {}};
  }
}


}  // namespace mhsm
