#include "library.h"

#include <dlfcn.h>
#include <sys/stat.h>

namespace mhsm {

LoadResult LoadLibrary(const std::string& path) {
  LoadResult result;
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    result.errorCode = "ERR_MODULE_NOT_FOUND";
    result.errorMessage = "PKCS#11 module not found: " + path;
    return result;
  }
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* reason = dlerror();
    result.errorCode = "ERR_MODULE_LOAD";
    result.errorMessage = "cannot load PKCS#11 module " + path + ": " + (reason ? reason : "unknown error");
    return result;
  }
  auto getFunctionList = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
  if (getFunctionList == nullptr) {
    dlclose(handle);
    result.errorCode = "ERR_NOT_PKCS11";
    result.errorMessage = "not a PKCS#11 module (no C_GetFunctionList): " + path;
    return result;
  }
  CK_RV rv = getFunctionList(&result.functions);
  if (rv != CKR_OK || result.functions == nullptr) {
    result.functions = nullptr;
    result.errorCode = "ERR_NOT_PKCS11";
    result.errorMessage = "C_GetFunctionList failed in " + path;
  }
  return result;
}

}  // namespace mhsm
