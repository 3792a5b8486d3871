// A PKCS#11 module that misbehaves on request, for the addon's tests. Its C_GetFunctionList
// dlopens the real module (MHSM_FAULT_TARGET, fixed when it is compiled: SoftHSM2), copies that
// module's function list and replaces a few entries. Each replacement reads the environment
// variable MHSM_FAULT at call time; unless it names one of the faults below, it passes through.
//
// Lengths (C_Sign, C_Encrypt, C_Decrypt, C_Digest, C_WrapKey; <op> = sign, encrypt, decrypt,
// digest, wrap). The lies apply to buffers shorter than 64 KiB, so a later call with a larger
// buffer passes through: the module misreports lengths, but its operation itself is sound.
//   huge-length-<op>     CKR_BUFFER_TOO_SMALL with a length of 2^40, after a real length query
//                        (the operation stays active, as after a real CKR_BUFFER_TOO_SMALL)
//   growing-length       the same, asking for twice the buffer it got: every call is too small
//   overlong-<op>        passes through, then says it wrote one byte more than the buffer holds
// Attributes (C_GetAttributeValue):
//   unavailable-attribute  the length query answers CKR_OK with every length CK_UNAVAILABLE_INFORMATION
//   huge-attribute         the length query answers CKR_OK with every length 2^40
//   overlong-attribute     the value call says it wrote one byte more than each buffer holds
// Searches (C_FindObjects):
//   huge-find            reports 2^40 objects found, whatever the buffer holds
//   many-objects         fills every buffer (with copies of a real handle) until 2^22 handles
//                        were reported in one search, then finds nothing more
// Lists (C_GetMechanismList):
//   huge-mechanism-list  the count query answers CKR_OK with 2^40 mechanisms
// Parameters (C_UnwrapKey with CKM_RSA_AES_KEY_WRAP, which SoftHSM2 2.6.1 lacks):
//   rsa-aes-params:BITS:HASH:MGF:LABEL
//                        checks the CK_RSA_AES_KEY_WRAP_PARAMS the caller passed against these
//                        values (decimal; LABEL the expected label text, may be empty) and answers
//                        CKR_FUNCTION_REJECTED when every field matches, else
//                        CKR_MECHANISM_PARAM_INVALID: a test of the addon's marshalling
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cryptoki.h"

namespace {

constexpr CK_ULONG kHuge = static_cast<CK_ULONG>(1) << 40;
constexpr CK_ULONG kShortBuffer = 64 * 1024;
constexpr CK_ULONG kManyObjects = static_cast<CK_ULONG>(1) << 22;

CK_FUNCTION_LIST_PTR real = nullptr;
CK_FUNCTION_LIST shim;
CK_ULONG reportedInSearch = 0;  // handles reported since the last C_FindObjectsInit (many-objects)

std::string Fault() {
  const char* fault = std::getenv("MHSM_FAULT");
  return fault ? fault : "";
}

// One output call under the length faults; call(out, length) is the real module's function.
template <typename Call>
CK_RV Output(const char* op, CK_BYTE_PTR out, CK_ULONG_PTR length, Call call) {
  std::string fault = Fault();
  std::string name(op);
  if (length != nullptr && (out == nullptr || *length < kShortBuffer) &&
      (fault == "huge-length-" + name || fault == "growing-length")) {
    CK_ULONG given = out == nullptr ? 0 : *length;
    CK_ULONG needed = 0;
    CK_RV rv = call(nullptr, &needed);
    if (rv != CKR_OK) return rv;
    *length = fault == "growing-length" ? 2 * (given > needed ? given : needed) : kHuge;
    return CKR_BUFFER_TOO_SMALL;
  }
  CK_ULONG capacity = length != nullptr ? *length : 0;
  CK_RV rv = call(out, length);
  if (rv == CKR_OK && out != nullptr && fault == "overlong-" + name) *length = capacity + 1;
  return rv;
}

// C_Sign, C_Encrypt, C_Decrypt and C_Digest share one signature: one wrapper serves them all.
using OnePart = CK_RV (*)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
constexpr char kSign[] = "sign";
constexpr char kEncrypt[] = "encrypt";
constexpr char kDecrypt[] = "decrypt";
constexpr char kDigest[] = "digest";

template <OnePart CK_FUNCTION_LIST::*function, const char* op>
CK_RV OnePartCall(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG dataLen, CK_BYTE_PTR out, CK_ULONG_PTR length) {
  return Output(op, out, length,
                [&](CK_BYTE_PTR o, CK_ULONG_PTR l) { return (real->*function)(session, data, dataLen, o, l); });
}

CK_RV WrapKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
              CK_BYTE_PTR out, CK_ULONG_PTR length) {
  return Output("wrap", out, length, [&](CK_BYTE_PTR o, CK_ULONG_PTR l) {
    return real->C_WrapKey(session, mechanism, wrapping, key, o, l);
  });
}

CK_RV UnwrapKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism, CK_OBJECT_HANDLE unwrapping, CK_BYTE_PTR wrapped,
                CK_ULONG wrappedLen, CK_ATTRIBUTE_PTR attributes, CK_ULONG count, CK_OBJECT_HANDLE_PTR handle) {
  std::string fault = Fault();
  const std::string prefix = "rsa-aes-params:";
  if (fault.rfind(prefix, 0) != 0 || mechanism == nullptr || mechanism->mechanism != CKM_RSA_AES_KEY_WRAP) {
    return real->C_UnwrapKey(session, mechanism, unwrapping, wrapped, wrappedLen, attributes, count, handle);
  }
  std::vector<std::string> expected;
  size_t start = prefix.size();
  for (size_t colon; (colon = fault.find(':', start)) != std::string::npos; start = colon + 1) expected.push_back(fault.substr(start, colon - start));
  expected.push_back(fault.substr(start));
  if (expected.size() != 4 || mechanism->ulParameterLen != sizeof(CK_RSA_AES_KEY_WRAP_PARAMS) || mechanism->pParameter == nullptr) {
    return CKR_MECHANISM_PARAM_INVALID;
  }
  auto* params = static_cast<CK_RSA_AES_KEY_WRAP_PARAMS*>(mechanism->pParameter);
  const CK_RSA_PKCS_OAEP_PARAMS* oaep = params->pOAEPParams;
  const std::string& label = expected[3];
  bool matches = oaep != nullptr && params->ulAESKeyBits == std::stoul(expected[0]) && oaep->hashAlg == std::stoul(expected[1]) &&
                 oaep->mgf == std::stoul(expected[2]) && oaep->source == CKZ_DATA_SPECIFIED && oaep->ulSourceDataLen == label.size() &&
                 (label.empty() || std::memcmp(oaep->pSourceData, label.data(), label.size()) == 0);
  return matches ? CKR_FUNCTION_REJECTED : CKR_MECHANISM_PARAM_INVALID;
}

CK_RV GetAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_PTR attributes,
                        CK_ULONG count) {
  std::string fault = Fault();
  bool query = true;
  for (CK_ULONG i = 0; i < count; i++) query = query && attributes[i].pValue == nullptr;
  std::vector<CK_ULONG> capacities;
  for (CK_ULONG i = 0; i < count; i++) capacities.push_back(attributes[i].ulValueLen);
  CK_RV rv = real->C_GetAttributeValue(session, object, attributes, count);
  if (rv != CKR_OK) return rv;
  for (CK_ULONG i = 0; i < count; i++) {
    if (query && fault == "unavailable-attribute") attributes[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
    if (query && fault == "huge-attribute") attributes[i].ulValueLen = kHuge;
    if (!query && fault == "overlong-attribute") attributes[i].ulValueLen = capacities[i] + 1;
  }
  return rv;
}

CK_RV FindObjectsInit(CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR attributes, CK_ULONG count) {
  reportedInSearch = 0;
  return real->C_FindObjectsInit(session, attributes, count);
}

CK_RV FindObjects(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE_PTR objects, CK_ULONG max, CK_ULONG_PTR count) {
  std::string fault = Fault();
  CK_RV rv = real->C_FindObjects(session, objects, max, count);
  if (rv != CKR_OK) return rv;
  if (fault == "huge-find") *count = kHuge;
  if (fault == "many-objects" && reportedInSearch < kManyObjects && max > 0) {
    CK_OBJECT_HANDLE copy = *count > 0 ? objects[0] : 1;
    for (CK_ULONG i = *count; i < max; i++) objects[i] = copy;
    *count = max;
  }
  reportedInSearch += *count;
  return rv;
}

CK_RV GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR types, CK_ULONG_PTR count) {
  CK_RV rv = real->C_GetMechanismList(slot, types, count);
  if (rv == CKR_OK && types == nullptr && Fault() == "huge-mechanism-list") *count = kHuge;
  return rv;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
  if (list == nullptr) return CKR_ARGUMENTS_BAD;
  if (real == nullptr) {
    void* library = dlopen(MHSM_FAULT_TARGET, RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) return CKR_GENERAL_ERROR;
    auto getFunctionList = reinterpret_cast<CK_C_GetFunctionList>(dlsym(library, "C_GetFunctionList"));
    if (getFunctionList == nullptr || getFunctionList(&real) != CKR_OK || real == nullptr) return CKR_GENERAL_ERROR;
    std::memcpy(&shim, real, sizeof shim);
    shim.C_Sign = OnePartCall<&CK_FUNCTION_LIST::C_Sign, kSign>;
    shim.C_Encrypt = OnePartCall<&CK_FUNCTION_LIST::C_Encrypt, kEncrypt>;
    shim.C_Decrypt = OnePartCall<&CK_FUNCTION_LIST::C_Decrypt, kDecrypt>;
    shim.C_Digest = OnePartCall<&CK_FUNCTION_LIST::C_Digest, kDigest>;
    shim.C_WrapKey = WrapKey;
    shim.C_UnwrapKey = UnwrapKey;
    shim.C_GetAttributeValue = GetAttributeValue;
    shim.C_FindObjectsInit = FindObjectsInit;
    shim.C_FindObjects = FindObjects;
    shim.C_GetMechanismList = GetMechanismList;
  }
  *list = &shim;
  return CKR_OK;
}
