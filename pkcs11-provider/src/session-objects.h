// Session objects: secret keys that live in this library, not in the HSM, for as long as the
// session that made them. They are what Managed HSM's wrap and unwrap operations carry: a content
// key given to C_WrapKey (made with C_CreateObject), or the key C_UnwrapKey gets back. The REST
// API returns an unwrapped key to its caller in plaintext; here it stays in the library's memory,
// readable only if the template said CKA_SENSITIVE false, and is zeroed when the object goes.
#pragma once
#include <set>
#include <string>

#include "cryptoki.h"
#include "der.h"
#include "key-objects.h"

namespace mhsm {

struct SessionObject {
  CK_SESSION_HANDLE owner = 0;
  CK_SLOT_ID slot = 0;
  CK_KEY_TYPE keyType = CKK_GENERIC_SECRET;
  Bytes value;
  std::string label;
  Bytes id;
  bool sensitive = true;
  bool extractable = true;
  std::set<CK_ATTRIBUTE_TYPE> usages;  // CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP set true

  SessionObject() = default;
  SessionObject(const SessionObject&) = default;
  SessionObject& operator=(const SessionObject&) = default;
  ~SessionObject();
};

/** A session secret key from a template (and the value, for C_UnwrapKey); CKR_OK or why not. */
CK_RV sessionObjectFrom(const CK_ATTRIBUTE* templ, CK_ULONG count, bool valueGiven, SessionObject& out, const char* function);
AttributeValue sessionAttributeOf(const SessionObject& object, CK_ATTRIBUTE_TYPE type);

}  // namespace mhsm
