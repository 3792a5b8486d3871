// A PKCS#11 module opened with dlopen at run time: the addon never links a token library.
#pragma once

#include <string>

#include "cryptoki.h"

namespace mhsm {

struct LoadResult {
  CK_FUNCTION_LIST_PTR functions = nullptr;
  std::string errorCode;  // empty on success
  std::string errorMessage;
};

// Opens the shared library and asks it for its function list. The library is never unloaded:
// token libraries keep threads and global state that do not survive dlclose.
LoadResult LoadLibrary(const std::string& path);

}  // namespace mhsm
