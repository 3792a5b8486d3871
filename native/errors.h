// Pkcs11Error objects ({ code, rv, fn }) and the CKR_* name table.
#pragma once

#include <napi.h>

#include "cryptoki.h"

namespace mhsm {

const char* RvName(CK_RV rv);

// An Error whose name is "Pkcs11Error", with code (CKR_* name), rv (number) and fn (C function).
Napi::Error MakePkcs11Error(Napi::Env env, CK_RV rv, const char* fn);

// Throws a Pkcs11Error unless rv is CKR_OK.
void Check(Napi::Env env, CK_RV rv, const char* fn);

// An Error with a string code for failures that are not a CK_RV (library loading, bad state).
Napi::Error MakeCodedError(Napi::Env env, const char* code, const std::string& message);

}  // namespace mhsm
