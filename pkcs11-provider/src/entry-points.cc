// The PKCS#11 v2.40 entry points: argument checks, then the work in session.cc and
// key-generation.cc. Every function of the v2.40 list is exported; those this library does not
// offer answer CKR_FUNCTION_NOT_SUPPORTED. No exception leaves a C_* function.
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <optional>

#include "log.h"
#include "session.h"

#define EXPORT extern "C" __attribute__((visibility("default")))

using namespace mhsm;

namespace {

// C_Initialize and C_Finalize hold it exclusively; every other call holds it shared for as long
// as it runs, so that C_Finalize waits for the calls under way before it frees what they use.
std::shared_mutex lifecycle;
using Held = std::shared_lock<std::shared_mutex>;

const char MANUFACTURER[] = "managed-hsm-emulator";

void padded(CK_UTF8CHAR* field, size_t size, const std::string& text) {
  std::memset(field, ' ', size);
  std::memcpy(field, text.data(), std::min(size, text.size()));
}

template <typename Work>
CK_RV guarded(const char* function, Work work) {
  try {
    return work();
  } catch (const std::bad_alloc&) {
    return CKR_HOST_MEMORY;
  } catch (const std::exception& error) {
    logLine(std::string(function) + ": " + error.what());
    return CKR_GENERAL_ERROR;
  } catch (...) {
    return CKR_GENERAL_ERROR;
  }
}

/** Runs `work` with the session locked: CKR_CRYPTOKI_NOT_INITIALIZED, CKR_SESSION_HANDLE_INVALID. */
template <typename Work>
CK_RV withSession(const char* function, CK_SESSION_HANDLE handle, Work work) {
  Held held(lifecycle);
  return guarded(function, [&]() -> CK_RV {
    Library* lib = library();
    if (!lib) return CKR_CRYPTOKI_NOT_INITIALIZED;
    std::shared_ptr<Session> session = lib->session(handle);
    if (!session) return CKR_SESSION_HANDLE_INVALID;
    std::lock_guard<std::mutex> lock(session->mutex);
    return work(*lib, *session);
  });
}

CK_RV checkSlot(CK_SLOT_ID id, Slot*& out) {
  Library* lib = library();
  if (!lib) return CKR_CRYPTOKI_NOT_INITIALIZED;
  out = lib->slot(id);
  return out ? CKR_OK : CKR_SLOT_ID_INVALID;
}

std::string serialOf(const std::string& url) {
  unsigned long hash = 5381;
  for (char c : url) hash = hash * 33 + static_cast<unsigned char>(c);
  char text[17];
  std::snprintf(text, sizeof text, "%016lx", hash);
  return text;
}

/** A list into the caller's array, by PKCS#11's rules: its length alone when `out` is null. */
template <typename T, typename Items, typename Item>
CK_RV listOut(const Items& items, Item item, T* out, CK_ULONG_PTR count) {
  if (out) {
    if (*count < items.size()) {
      *count = items.size();
      return CKR_BUFFER_TOO_SMALL;
    }
    for (size_t i = 0; i < items.size(); i++) out[i] = item(items[i]);
  }
  *count = items.size();
  return CKR_OK;
}

/**
 * The start of a one-part or final call: CKR_OPERATION_NOT_INITIALIZED without an operation;
 * bad arguments end the operation (as PKCS#11 has it for every error but a short buffer).
 */
template <typename Operation>
CK_RV checkFinal(std::optional<Operation>& op, bool argumentsGood) {
  if (!op) return CKR_OPERATION_NOT_INITIALIZED;
  if (!argumentsGood) {
    op.reset();
    return CKR_ARGUMENTS_BAD;
  }
  return CKR_OK;
}

/** C_*Update: the part joins the operation's input; the REST call is made at the end. */
template <typename Operation>
CK_RV appendPart(std::optional<Operation>& op, CK_BYTE_PTR part, CK_ULONG length) {
  if (!op) return CKR_OPERATION_NOT_INITIALIZED;
  if (!part && length > 0) {
    op.reset();
    return CKR_ARGUMENTS_BAD;
  }
  op->data.insert(op->data.end(), part, part + length);
  return CKR_OK;
}

extern CK_FUNCTION_LIST functionList;

}  // namespace

EXPORT CK_RV C_Initialize(CK_VOID_PTR pInitArgs) {
  std::unique_lock<std::shared_mutex> lock(lifecycle);
  if (library()) return CKR_CRYPTOKI_ALREADY_INITIALIZED;
  if (pInitArgs) {
    auto* args = static_cast<CK_C_INITIALIZE_ARGS*>(pInitArgs);
    if (args->pReserved) return CKR_ARGUMENTS_BAD;
    bool someFunctions = args->CreateMutex || args->DestroyMutex || args->LockMutex || args->UnlockMutex;
    bool allFunctions = args->CreateMutex && args->DestroyMutex && args->LockMutex && args->UnlockMutex;
    if (someFunctions && !allFunctions) return CKR_ARGUMENTS_BAD;
    // The library locks with the operating system's primitives: it cannot use the caller's only.
    if (allFunctions && !(args->flags & CKF_OS_LOCKING_OK)) return CKR_CANT_LOCK;
  }
  return guarded("C_Initialize", [] { return initializeLibrary(); });
}

EXPORT CK_RV C_Finalize(CK_VOID_PTR pReserved) {
  std::unique_lock<std::shared_mutex> lock(lifecycle);
  if (pReserved) return CKR_ARGUMENTS_BAD;
  if (!library()) return CKR_CRYPTOKI_NOT_INITIALIZED;
  finalizeLibrary();
  return CKR_OK;
}

EXPORT CK_RV C_GetInfo(CK_INFO_PTR pInfo) {
  Held held(lifecycle);
  if (!library()) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (!pInfo) return CKR_ARGUMENTS_BAD;
  std::memset(pInfo, 0, sizeof *pInfo);
  pInfo->cryptokiVersion = {2, 40};
  padded(pInfo->manufacturerID, sizeof pInfo->manufacturerID, MANUFACTURER);
  padded(pInfo->libraryDescription, sizeof pInfo->libraryDescription, "Managed HSM emulator over REST");
  pInfo->libraryVersion = {0, 1};
  return CKR_OK;
}

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) {
  if (!ppFunctionList) return CKR_ARGUMENTS_BAD;
  *ppFunctionList = &functionList;
  return CKR_OK;
}

EXPORT CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount) {
  Held held(lifecycle);
  Library* lib = library();
  if (!lib) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (!pulCount) return CKR_ARGUMENTS_BAD;
  return listOut(lib->slots(), [](const std::unique_ptr<Slot>& slot) { return slot->id; }, pSlotList, pulCount);
}

EXPORT CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo) {
  Held held(lifecycle);
  Slot* slot = nullptr;
  if (CK_RV rv = checkSlot(slotID, slot); rv != CKR_OK) return rv;
  if (!pInfo) return CKR_ARGUMENTS_BAD;
  std::memset(pInfo, 0, sizeof *pInfo);
  padded(pInfo->slotDescription, sizeof pInfo->slotDescription, slot->config.url);
  padded(pInfo->manufacturerID, sizeof pInfo->manufacturerID, MANUFACTURER);
  pInfo->flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
  pInfo->hardwareVersion = {1, 0};
  pInfo->firmwareVersion = {1, 0};
  return CKR_OK;
}

EXPORT CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo) {
  Held held(lifecycle);
  Slot* slot = nullptr;
  if (CK_RV rv = checkSlot(slotID, slot); rv != CKR_OK) return rv;
  if (!pInfo) return CKR_ARGUMENTS_BAD;
  std::memset(pInfo, 0, sizeof *pInfo);
  padded(pInfo->label, sizeof pInfo->label, slot->config.label);
  padded(pInfo->manufacturerID, sizeof pInfo->manufacturerID, MANUFACTURER);
  padded(pInfo->model, sizeof pInfo->model, "Managed HSM");
  padded(pInfo->serialNumber, sizeof pInfo->serialNumber, serialOf(slot->config.url));
  // No CKF_LOGIN_REQUIRED: the caller is the principal of the configuration, by its client secret.
  pInfo->flags = CKF_RNG | CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED;
  pInfo->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
  pInfo->ulSessionCount = library()->sessionCount(slotID);
  pInfo->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
  pInfo->ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
  pInfo->ulMaxPinLen = 256;
  pInfo->ulMinPinLen = 0;
  pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
  pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
  pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
  pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
  pInfo->hardwareVersion = {1, 0};
  pInfo->firmwareVersion = {1, 0};
  return CKR_OK;
}

EXPORT CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList, CK_ULONG_PTR pulCount) {
  Held held(lifecycle);
  Slot* slot = nullptr;
  if (CK_RV rv = checkSlot(slotID, slot); rv != CKR_OK) return rv;
  if (!pulCount) return CKR_ARGUMENTS_BAD;
  return listOut(mechanismTable(), [](const MechanismEntry& entry) { return entry.type; }, pMechanismList, pulCount);
}

EXPORT CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo) {
  Held held(lifecycle);
  Slot* slot = nullptr;
  if (CK_RV rv = checkSlot(slotID, slot); rv != CKR_OK) return rv;
  if (!pInfo) return CKR_ARGUMENTS_BAD;
  const MechanismEntry* entry = mechanismEntry(type);
  if (!entry) return CKR_MECHANISM_INVALID;
  pInfo->ulMinKeySize = entry->minKeySize;
  pInfo->ulMaxKeySize = entry->maxKeySize;
  pInfo->flags = entry->flags | CKF_HW;
  return CKR_OK;
}

EXPORT CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession) {
  Held held(lifecycle);
  return guarded("C_OpenSession", [&]() -> CK_RV {
    Slot* slot = nullptr;
    if (CK_RV rv = checkSlot(slotID, slot); rv != CKR_OK) return rv;
    if (!phSession) return CKR_ARGUMENTS_BAD;
    if (!(flags & CKF_SERIAL_SESSION)) return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    // The principal's token, now: a wrong secret, an untrusted CA or an HSM down shows here.
    try {
      slot->service->authenticate();
    } catch (...) {
      return failure("C_OpenSession", "slot " + slot->config.label + " (" + slot->config.url + ")");
    }
    *phSession = library()->openSession(slotID, flags)->handle;
    return CKR_OK;
  });
}

EXPORT CK_RV C_CloseSession(CK_SESSION_HANDLE hSession) {
  Held held(lifecycle);
  Library* lib = library();
  if (!lib) return CKR_CRYPTOKI_NOT_INITIALIZED;
  return lib->closeSession(hSession) ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}

EXPORT CK_RV C_CloseAllSessions(CK_SLOT_ID slotID) {
  Held held(lifecycle);
  Slot* slot = nullptr;
  if (CK_RV rv = checkSlot(slotID, slot); rv != CKR_OK) return rv;
  library()->closeAllSessions(slotID);
  return CKR_OK;
}

EXPORT CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo) {
  return withSession("C_GetSessionInfo", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (!pInfo) return CKR_ARGUMENTS_BAD;
    bool rw = session.flags & CKF_RW_SESSION;
    bool user = lib.slot(session.slot)->loggedIn;
    pInfo->slotID = session.slot;
    pInfo->state = user ? (rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS) : (rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION);
    pInfo->flags = session.flags;
    pInfo->ulDeviceError = 0;
    return CKR_OK;
  });
}

// The PIN is not what grants access: the configured principal's roles are. C_Login is taken
// (any PIN) so that applications that always log in work; it checks nothing.
EXPORT CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen) {
  return withSession("C_Login", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (userType != CKU_USER) return CKR_USER_TYPE_INVALID;
    bool expected = false;
    return lib.slot(session.slot)->loggedIn.compare_exchange_strong(expected, true) ? CKR_OK : CKR_USER_ALREADY_LOGGED_IN;
  });
}

EXPORT CK_RV C_Logout(CK_SESSION_HANDLE hSession) {
  return withSession("C_Logout", hSession, [&](Library& lib, Session& session) -> CK_RV {
    bool expected = true;
    return lib.slot(session.slot)->loggedIn.compare_exchange_strong(expected, false) ? CKR_OK : CKR_USER_NOT_LOGGED_IN;
  });
}

EXPORT CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject) {
  return withSession("C_DestroyObject", hSession, [&](Library& lib, Session& session) { return destroyObject(lib, session, hObject); });
}

EXPORT CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize) {
  return withSession("C_GetObjectSize", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (!pulSize) return CKR_ARGUMENTS_BAD;
    auto ref = lib.object(hObject);
    if ((!ref || ref->slot != session.slot) && !lib.sessionObject(hObject)) return CKR_OBJECT_HANDLE_INVALID;
    *pulSize = CK_UNAVAILABLE_INFORMATION;
    return CKR_OK;
  });
}

EXPORT CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
  return withSession("C_GetAttributeValue", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (!pTemplate && ulCount > 0) return CKR_ARGUMENTS_BAD;
    return getAttributeValue(lib, session, hObject, pTemplate, ulCount);
  });
}

EXPORT CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
  return withSession("C_FindObjectsInit", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (!pTemplate && ulCount > 0) return CKR_ARGUMENTS_BAD;
    if (session.finding) return CKR_OPERATION_ACTIVE;
    for (CK_ULONG i = 0; i < ulCount; i++) {
      if (pTemplate[i].ulValueLen > 0 && !pTemplate[i].pValue) return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    return findObjectsInit(lib, session, pTemplate, ulCount);
  });
}

EXPORT CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount) {
  return withSession("C_FindObjects", hSession, [&](Library&, Session& session) -> CK_RV {
    if (!phObject || !pulObjectCount) return CKR_ARGUMENTS_BAD;
    if (!session.finding) return CKR_OPERATION_NOT_INITIALIZED;
    CK_ULONG n = 0;
    while (n < ulMaxObjectCount && session.nextFound < session.found.size()) phObject[n++] = session.found[session.nextFound++];
    *pulObjectCount = n;
    return CKR_OK;
  });
}

EXPORT CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession) {
  return withSession("C_FindObjectsFinal", hSession, [&](Library&, Session& session) -> CK_RV {
    if (!session.finding) return CKR_OPERATION_NOT_INITIALIZED;
    session.finding = false;
    session.found.clear();
    return CKR_OK;
  });
}

EXPORT CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
  return withSession("C_SignInit", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (!pMechanism) return CKR_ARGUMENTS_BAD;
    if (session.sign) return CKR_OPERATION_ACTIVE;
    return signInit(lib, session, pMechanism, hKey);
  });
}

EXPORT CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen) {
  return withSession("C_Sign", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (CK_RV rv = checkFinal(session.sign, !((!pData && ulDataLen > 0) || !pulSignatureLen)); rv != CKR_OK) return rv;
    session.sign->data.assign(pData, pData + ulDataLen);
    return signFinish(lib, session, pSignature, pulSignatureLen);
  });
}

EXPORT CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
  return withSession("C_SignUpdate", hSession, [&](Library&, Session& session) { return appendPart(session.sign, pPart, ulPartLen); });
}

EXPORT CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen) {
  return withSession("C_SignFinal", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (CK_RV rv = checkFinal(session.sign, pulSignatureLen != nullptr); rv != CKR_OK) return rv;
    return signFinish(lib, session, pSignature, pulSignatureLen);
  });
}

EXPORT CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
  return withSession("C_VerifyInit", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (!pMechanism) return CKR_ARGUMENTS_BAD;
    if (session.verify) return CKR_OPERATION_ACTIVE;
    return verifyInit(lib, session, pMechanism, hKey);
  });
}

EXPORT CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen) {
  return withSession("C_Verify", hSession, [&](Library&, Session& session) -> CK_RV {
    if (CK_RV rv = checkFinal(session.verify, !((!pData && ulDataLen > 0) || !pSignature)); rv != CKR_OK) return rv;
    session.verify->data.assign(pData, pData + ulDataLen);
    return verifyFinish(session, Bytes(pSignature, pSignature + ulSignatureLen));
  });
}

EXPORT CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
  return withSession("C_VerifyUpdate", hSession, [&](Library&, Session& session) { return appendPart(session.verify, pPart, ulPartLen); });
}

EXPORT CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen) {
  return withSession("C_VerifyFinal", hSession, [&](Library&, Session& session) -> CK_RV {
    if (CK_RV rv = checkFinal(session.verify, pSignature != nullptr); rv != CKR_OK) return rv;
    return verifyFinish(session, Bytes(pSignature, pSignature + ulSignatureLen));
  });
}

/** The C_Encrypt* and C_Decrypt* functions, one body for both directions. */
template <bool Encrypt>
struct Cipher {
  static constexpr const char* name(int step) {
    const char* e[] = {"C_EncryptInit", "C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal"};
    const char* d[] = {"C_DecryptInit", "C_Decrypt", "C_DecryptUpdate", "C_DecryptFinal"};
    return Encrypt ? e[step] : d[step];
  }
  static std::optional<CipherOperation>& op(Session& s) { return Encrypt ? s.encrypt : s.decrypt; }

  static CK_RV init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mechanism, CK_OBJECT_HANDLE key) {
    return withSession(name(0), h, [&](Library& lib, Session& session) -> CK_RV {
      if (!mechanism) return CKR_ARGUMENTS_BAD;
      if (op(session)) return CKR_OPERATION_ACTIVE;
      return cipherInit(lib, session, mechanism, key, Encrypt);
    });
  }
  static CK_RV once(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inLength, CK_BYTE_PTR out, CK_ULONG_PTR outLength) {
    return withSession(name(1), h, [&](Library& lib, Session& session) -> CK_RV {
      if (CK_RV rv = checkFinal(op(session), !((!in && inLength > 0) || !outLength)); rv != CKR_OK) return rv;
      if (!op(session)->result) op(session)->data.assign(in, in + inLength);
      return cipherFinish(lib, session, Encrypt, out, outLength);
    });
  }
  static CK_RV update(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inLength, CK_BYTE_PTR out, CK_ULONG_PTR outLength) {
    return withSession(name(2), h, [&](Library&, Session& session) -> CK_RV {
      if (op(session) && !outLength) {
        op(session).reset();
        return CKR_ARGUMENTS_BAD;
      }
      // The output comes at the final call: a part's output is always 0 bytes long, and a call
      // that only asks for that length (out null) adds nothing to the input.
      if (!out && op(session)) {
        *outLength = 0;
        return CKR_OK;
      }
      CK_RV rv = appendPart(op(session), in, inLength);
      if (rv == CKR_OK) *outLength = 0;
      return rv;
    });
  }
  static CK_RV final(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outLength) {
    return withSession(name(3), h, [&](Library& lib, Session& session) -> CK_RV {
      if (CK_RV rv = checkFinal(op(session), outLength != nullptr); rv != CKR_OK) return rv;
      return cipherFinish(lib, session, Encrypt, out, outLength);
    });
  }
};

EXPORT CK_RV C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { return Cipher<true>::init(h, m, k); }
EXPORT CK_RV C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out, CK_ULONG_PTR outN) { return Cipher<true>::once(h, in, n, out, outN); }
EXPORT CK_RV C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out, CK_ULONG_PTR outN) { return Cipher<true>::update(h, in, n, out, outN); }
EXPORT CK_RV C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outN) { return Cipher<true>::final(h, out, outN); }
EXPORT CK_RV C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { return Cipher<false>::init(h, m, k); }
EXPORT CK_RV C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out, CK_ULONG_PTR outN) { return Cipher<false>::once(h, in, n, out, outN); }
EXPORT CK_RV C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out, CK_ULONG_PTR outN) { return Cipher<false>::update(h, in, n, out, outN); }
EXPORT CK_RV C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outN) { return Cipher<false>::final(h, out, outN); }

EXPORT CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey) {
  return withSession("C_GenerateKey", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (!pMechanism || !phKey || (!pTemplate && ulCount > 0)) return CKR_ARGUMENTS_BAD;
    if (!(session.flags & CKF_RW_SESSION)) return CKR_SESSION_READ_ONLY;
    return generateKey(lib, session, pMechanism, pTemplate, ulCount, phKey);
  });
}

EXPORT CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                               CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount, CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey) {
  return withSession("C_GenerateKeyPair", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (!pMechanism || !phPublicKey || !phPrivateKey) return CKR_ARGUMENTS_BAD;
    if ((!pPublicKeyTemplate && ulPublicKeyAttributeCount > 0) || (!pPrivateKeyTemplate && ulPrivateKeyAttributeCount > 0)) return CKR_ARGUMENTS_BAD;
    if (!(session.flags & CKF_RW_SESSION)) return CKR_SESSION_READ_ONLY;
    return generateKeyPair(lib, session, pMechanism, pPublicKeyTemplate, ulPublicKeyAttributeCount, pPrivateKeyTemplate, ulPrivateKeyAttributeCount, phPublicKey, phPrivateKey);
  });
}

EXPORT CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject) {
  return withSession("C_CreateObject", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (!phObject || (!pTemplate && ulCount > 0)) return CKR_ARGUMENTS_BAD;
    return createObject(lib, session, pTemplate, ulCount, phObject);
  });
}

EXPORT CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen) {
  return withSession("C_WrapKey", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (!pMechanism || !pulWrappedKeyLen) return CKR_ARGUMENTS_BAD;
    return wrapKey(lib, session, pMechanism, hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen);
  });
}

EXPORT CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
                         CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey) {
  return withSession("C_UnwrapKey", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (!pMechanism || !phKey || (!pWrappedKey && ulWrappedKeyLen > 0) || (!pTemplate && ulAttributeCount > 0)) return CKR_ARGUMENTS_BAD;
    return unwrapKey(lib, session, pMechanism, hUnwrappingKey, Bytes(pWrappedKey, pWrappedKey + ulWrappedKeyLen), pTemplate, ulAttributeCount, phKey);
  });
}

EXPORT CK_RV C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism) {
  return withSession("C_DigestInit", hSession, [&](Library&, Session& session) -> CK_RV {
    if (!pMechanism) return CKR_ARGUMENTS_BAD;
    if (session.digest) return CKR_OPERATION_ACTIVE;
    return digestInit(session, pMechanism);
  });
}

EXPORT CK_RV C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen) {
  return withSession("C_Digest", hSession, [&](Library&, Session& session) -> CK_RV {
    if (CK_RV rv = checkFinal(session.digest, !((!pData && ulDataLen > 0) || !pulDigestLen)); rv != CKR_OK) return rv;
    session.digest->data.assign(pData, pData + ulDataLen);
    return digestFinish(session, pDigest, pulDigestLen);
  });
}

EXPORT CK_RV C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
  return withSession("C_DigestUpdate", hSession, [&](Library&, Session& session) { return appendPart(session.digest, pPart, ulPartLen); });
}

EXPORT CK_RV C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen) {
  return withSession("C_DigestFinal", hSession, [&](Library&, Session& session) -> CK_RV {
    if (CK_RV rv = checkFinal(session.digest, pulDigestLen != nullptr); rv != CKR_OK) return rv;
    return digestFinish(session, pDigest, pulDigestLen);
  });
}

EXPORT CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen) {
  return withSession("C_SeedRandom", hSession, [&](Library&, Session&) { return CKR_RANDOM_SEED_NOT_SUPPORTED; });
}

EXPORT CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData, CK_ULONG ulRandomLen) {
  return withSession("C_GenerateRandom", hSession, [&](Library& lib, Session& session) -> CK_RV {
    if (!RandomData && ulRandomLen > 0) return CKR_ARGUMENTS_BAD;
    return generateRandom(lib, session, RandomData, ulRandomLen);
  });
}

EXPORT CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession) {
  Held held(lifecycle);
  return library() ? CKR_FUNCTION_NOT_PARALLEL : CKR_CRYPTOKI_NOT_INITIALIZED;
}
EXPORT CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession) {
  Held held(lifecycle);
  return library() ? CKR_FUNCTION_NOT_PARALLEL : CKR_CRYPTOKI_NOT_INITIALIZED;
}

// Not offered (yet): each answers CKR_FUNCTION_NOT_SUPPORTED.
#define NOT_SUPPORTED(name, ...) \
  EXPORT CK_RV name(__VA_ARGS__) { return CKR_FUNCTION_NOT_SUPPORTED; }
NOT_SUPPORTED(C_InitToken, CK_SLOT_ID, CK_UTF8CHAR_PTR, CK_ULONG, CK_UTF8CHAR_PTR)
NOT_SUPPORTED(C_InitPIN, CK_SESSION_HANDLE, CK_UTF8CHAR_PTR, CK_ULONG)
NOT_SUPPORTED(C_SetPIN, CK_SESSION_HANDLE, CK_UTF8CHAR_PTR, CK_ULONG, CK_UTF8CHAR_PTR, CK_ULONG)
NOT_SUPPORTED(C_GetOperationState, CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR)
NOT_SUPPORTED(C_SetOperationState, CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)
NOT_SUPPORTED(C_CopyObject, CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG, CK_OBJECT_HANDLE_PTR)
NOT_SUPPORTED(C_SetAttributeValue, CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG)
NOT_SUPPORTED(C_DigestKey, CK_SESSION_HANDLE, CK_OBJECT_HANDLE)
NOT_SUPPORTED(C_SignRecoverInit, CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE)
NOT_SUPPORTED(C_SignRecover, CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR)
NOT_SUPPORTED(C_VerifyRecoverInit, CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE)
NOT_SUPPORTED(C_VerifyRecover, CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR)
NOT_SUPPORTED(C_DigestEncryptUpdate, CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR)
NOT_SUPPORTED(C_DecryptDigestUpdate, CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR)
NOT_SUPPORTED(C_SignEncryptUpdate, CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR)
NOT_SUPPORTED(C_DecryptVerifyUpdate, CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR)
NOT_SUPPORTED(C_DeriveKey, CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG, CK_OBJECT_HANDLE_PTR)
NOT_SUPPORTED(C_WaitForSlotEvent, CK_FLAGS, CK_SLOT_ID_PTR, CK_VOID_PTR)

namespace {
CK_FUNCTION_LIST functionList = {
    {2, 40},
#undef CK_PKCS11_FUNCTION_INFO
#define CK_PKCS11_FUNCTION_INFO(name) name,
#include "pkcs11/pkcs11f.h"
#undef CK_PKCS11_FUNCTION_INFO
};
}  // namespace
