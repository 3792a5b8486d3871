// Entry point of the mhsm_pkcs11 addon: exports the Module class.
#include <napi.h>

#include "marshal.h"
#include "module.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  mhsm::CreatePropertyKeys(env);
  exports.Set("Module", mhsm::Module::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(mhsm_pkcs11, Init)
