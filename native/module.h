// Module: one loaded PKCS#11 library. Methods mirror Cryptoki; single-shot crypto calls do the
// *Init and the operation in one native call. Slow calls return promises (see job.h).
#pragma once

#include <napi.h>

#include <string>

#include "cryptoki.h"
#include "job.h"

namespace mhsm {

class Module : public Napi::ObjectWrap<Module> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Module(const Napi::CallbackInfo& info);

 private:
  // module.cc: library, slots, tokens, sessions, login, random
  Napi::Value Path(const Napi::CallbackInfo& info);
  Napi::Value Initialize(const Napi::CallbackInfo& info);
  Napi::Value Finalize(const Napi::CallbackInfo& info);
  Napi::Value GetInfo(const Napi::CallbackInfo& info);
  Napi::Value GetSlotList(const Napi::CallbackInfo& info);
  Napi::Value GetSlotInfo(const Napi::CallbackInfo& info);
  Napi::Value GetTokenInfo(const Napi::CallbackInfo& info);
  Napi::Value GetMechanismList(const Napi::CallbackInfo& info);
  Napi::Value GetMechanismInfo(const Napi::CallbackInfo& info);
  Napi::Value InitToken(const Napi::CallbackInfo& info);
  Napi::Value InitPin(const Napi::CallbackInfo& info);
  Napi::Value SetPin(const Napi::CallbackInfo& info);
  Napi::Value OpenSession(const Napi::CallbackInfo& info);
  Napi::Value CloseSession(const Napi::CallbackInfo& info);
  Napi::Value CloseAllSessions(const Napi::CallbackInfo& info);
  Napi::Value Login(const Napi::CallbackInfo& info);
  Napi::Value Logout(const Napi::CallbackInfo& info);
  Napi::Value GenerateRandom(const Napi::CallbackInfo& info);

  // module-objects.cc: objects and key generation
  Napi::Value CreateObject(const Napi::CallbackInfo& info);
  Napi::Value CopyObject(const Napi::CallbackInfo& info);
  Napi::Value FindObjects(const Napi::CallbackInfo& info);
  Napi::Value GetAttributeValue(const Napi::CallbackInfo& info);
  Napi::Value SetAttributeValue(const Napi::CallbackInfo& info);
  Napi::Value DestroyObject(const Napi::CallbackInfo& info);
  Napi::Value GenerateKey(const Napi::CallbackInfo& info);
  Napi::Value GenerateKeyPair(const Napi::CallbackInfo& info);

  // module-crypto.cc: single-shot cryptographic calls
  Napi::Value Encrypt(const Napi::CallbackInfo& info);
  Napi::Value Decrypt(const Napi::CallbackInfo& info);
  Napi::Value Sign(const Napi::CallbackInfo& info);
  Napi::Value Verify(const Napi::CallbackInfo& info);
  Napi::Value Digest(const Napi::CallbackInfo& info);
  Napi::Value WrapKey(const Napi::CallbackInfo& info);
  Napi::Value UnwrapKey(const Napi::CallbackInfo& info);
  Napi::Value DeriveKey(const Napi::CallbackInfo& info);

  Napi::Value Run(const Napi::CallbackInfo& info, size_t inlineIndex, std::unique_ptr<Job> job);

  CK_FUNCTION_LIST_PTR functions_ = nullptr;
  std::string path_;
};

// The optional trailing `inline` argument: undefined means false.
bool InlineArgument(const Napi::CallbackInfo& info, size_t index);

}  // namespace mhsm
