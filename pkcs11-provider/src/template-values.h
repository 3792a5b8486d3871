// Reading an application's template: booleans and numbers by their PKCS#11 sizes (a wrong size
// is CKR_ATTRIBUTE_VALUE_INVALID, never read as false), and never a misaligned read.
#pragma once
#include <cstring>

#include "cryptoki.h"

namespace mhsm {

inline bool isBooleanAttribute(CK_ATTRIBUTE_TYPE type) {
  switch (type) {
    case CKA_TOKEN:
    case CKA_PRIVATE:
    case CKA_MODIFIABLE:
    case CKA_COPYABLE:
    case CKA_DESTROYABLE:
    case CKA_SENSITIVE:
    case CKA_EXTRACTABLE:
    case CKA_WRAP_WITH_TRUSTED:
    case CKA_SIGN:
    case CKA_VERIFY:
    case CKA_ENCRYPT:
    case CKA_DECRYPT:
    case CKA_WRAP:
    case CKA_UNWRAP:
    case CKA_DERIVE: return true;
    default: return false;
  }
}

/** A boolean attribute is one CK_BBOOL; a value attribute of any length needs a pointer. */
inline bool wellFormed(const CK_ATTRIBUTE& a) {
  if (a.ulValueLen > 0 && !a.pValue) return false;
  return !isBooleanAttribute(a.type) || (a.pValue && a.ulValueLen == sizeof(CK_BBOOL));
}

inline bool boolOf(const CK_ATTRIBUTE& a) { return *static_cast<const CK_BBOOL*>(a.pValue) == CK_TRUE; }

inline bool ulongOf(const CK_ATTRIBUTE& a, CK_ULONG& out) {
  if (!a.pValue || a.ulValueLen != sizeof(CK_ULONG)) return false;
  std::memcpy(&out, a.pValue, sizeof out);
  return true;
}

}  // namespace mhsm
