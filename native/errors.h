// Pkcs11Error objects ({ code, rv, fn }) and the CKR_* name table.
#pragma once

#include <napi.h>

#include <string>

#include "cryptoki.h"

namespace mhsm {

const char* RvName(CK_RV rv);

// An Error whose name is "Pkcs11Error", with code (CKR_* name), rv (number) and fn (C function).
Napi::Error MakePkcs11Error(Napi::Env env, CK_RV rv, const char* fn);

// Throws a Pkcs11Error unless rv is CKR_OK.
void Check(Napi::Env env, CK_RV rv, const char* fn);

// An Error with a string code for failures that are not a CK_RV (library loading, bad state).
Napi::Error MakeCodedError(Napi::Env env, const char* code, const std::string& message);

// A coded Error that also names the C function (fn) during which it happened.
Napi::Error MakeFunctionError(Napi::Env env, const char* code, const char* fn, const std::string& message);

// ERR_MODULE_FAULT: the module answered fn with a length or count that cannot be true. The message
// is "<fn>: the module reported an impossible length: <detail>".
Napi::Error MakeModuleFaultError(Napi::Env env, const char* fn, const std::string& detail);

}  // namespace mhsm
