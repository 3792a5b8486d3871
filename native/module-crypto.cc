// Single-shot cryptographic calls: *Init and the operation cross the JS/C boundary once.
#include <algorithm>

#include "marshal.h"
#include "module.h"

namespace mhsm {

namespace {

// First guess of an output's size: room for a block of padding and a tag beyond the input, and
// at least an RSA-4096 signature or ciphertext. A larger output costs one more call. (Guesses of
// 1 KiB and more would make every call take glibc's slower path for large allocations.)
constexpr size_t kOutputSlack = 64;
constexpr size_t kMinimumOutput = 512;

size_t OutputGuess(size_t inputSize) { return std::max(inputSize + kOutputSlack, kMinimumOutput); }

// The most output a module may ask for: no mechanism's output exceeds its input by more than a
// block, a tag or an RSA modulus (2 KiB at RSA-16384), and no wrapped key is more than a few KiB,
// so a module asking for over 1 MiB beyond the input reports an impossible length (a garbage
// value, or CK_UNAVAILABLE_INFORMATION), not a buffer to allocate.
constexpr size_t kMaxOutputBeyondInput = size_t{1} << 20;

size_t OutputCap(size_t inputSize) { return inputSize + kMaxOutputBeyondInput; }

struct KeyedState {
  CK_SESSION_HANDLE session;
  std::unique_ptr<Mechanism> mechanism;
  CK_OBJECT_HANDLE key;
  InputBytes input;
  SecureBytes output;
};

KeyedState ReadKeyed(const Napi::CallbackInfo& info, size_t inlineIndex) {
  return KeyedState{ToULong(info[0], "session"), Mechanism::From(info[1], "mechanism"), ToULong(info[2], "key"),
                    ToInput(info[3], "data", InlineArgument(info, inlineIndex)), SecureBytes()};
}

Napi::Value OutputBuffer(Napi::Env env, KeyedState& s) { return ToBuffer(env, s.output.data(), s.output.size()); }

using InitFn = CK_RV (*)(CK_FUNCTION_LIST_PTR, CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
using UpdateFn = CK_RV (*)(CK_FUNCTION_LIST_PTR, CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);

// Init + one-part operation, the pattern shared by encrypt, decrypt and sign.
template <InitFn Init, UpdateFn Operation>
std::unique_ptr<Job> OneShot(const char* initName, const char* operationName, KeyedState state) {
  return MakeJob(
      initName, std::move(state),
      [operationName](CK_FUNCTION_LIST_PTR f, KeyedState& s, const char*& fn) {
        CK_RV rv = Init(f, s.session, s.mechanism->get(), s.key);
        if (rv != CKR_OK) return rv;
        fn = operationName;
        size_t size = s.input.size();
        return RunWithOutput(s.output, OutputGuess(size), OutputCap(size), [&](CK_BYTE_PTR out, CK_ULONG_PTR length) {
          return Operation(f, s.session, s.input.data(), s.input.size(), out, length);
        });
      },
      OutputBuffer);
}

CK_RV EncryptInit(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) {
  return f->C_EncryptInit(s, m, k);
}
CK_RV EncryptOp(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out,
                CK_ULONG_PTR len) {
  return f->C_Encrypt(s, in, n, out, len);
}
CK_RV DecryptInit(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) {
  return f->C_DecryptInit(s, m, k);
}
CK_RV DecryptOp(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out,
                CK_ULONG_PTR len) {
  return f->C_Decrypt(s, in, n, out, len);
}
CK_RV SignInit(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) {
  return f->C_SignInit(s, m, k);
}
CK_RV SignOp(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out,
             CK_ULONG_PTR len) {
  return f->C_Sign(s, in, n, out, len);
}

}  // namespace

Napi::Value Module::Encrypt(const Napi::CallbackInfo& info) {
  return Run(info, 4, OneShot<EncryptInit, EncryptOp>("C_EncryptInit", "C_Encrypt", ReadKeyed(info, 4)));
}

Napi::Value Module::Decrypt(const Napi::CallbackInfo& info) {
  return Run(info, 4, OneShot<DecryptInit, DecryptOp>("C_DecryptInit", "C_Decrypt", ReadKeyed(info, 4)));
}

Napi::Value Module::Sign(const Napi::CallbackInfo& info) {
  return Run(info, 4, OneShot<SignInit, SignOp>("C_SignInit", "C_Sign", ReadKeyed(info, 4)));
}

Napi::Value Module::Verify(const Napi::CallbackInfo& info) {
  struct State {
    KeyedState keyed;
    InputBytes signature;
    bool valid = false;
  };
  State state{ReadKeyed(info, 5), ToInput(info[4], "signature", InlineArgument(info, 5))};
  return Run(info, 5,
             MakeJob(
                 "C_VerifyInit", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*& fn) {
                   KeyedState& k = s.keyed;
                   CK_RV rv = f->C_VerifyInit(k.session, k.mechanism->get(), k.key);
                   if (rv != CKR_OK) return rv;
                   fn = "C_Verify";
                   rv = f->C_Verify(k.session, k.input.data(), k.input.size(), s.signature.data(), s.signature.size());
                   // A wrong signature is an answer, not a failure.
                   s.valid = rv == CKR_OK;
                   return rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE ? CKR_OK : rv;
                 },
                 [](Napi::Env env, State& s) -> Napi::Value { return Napi::Boolean::New(env, s.valid); }));
}

Napi::Value Module::Digest(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    std::unique_ptr<Mechanism> mechanism;
    InputBytes input;
    SecureBytes output;
  };
  State state{ToULong(info[0], "session"), Mechanism::From(info[1], "mechanism"), ToInput(info[2], "data", InlineArgument(info, 3)),
              SecureBytes()};
  return Run(info, 3,
             MakeJob(
                 "C_DigestInit", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*& fn) {
                   CK_RV rv = f->C_DigestInit(s.session, s.mechanism->get());
                   if (rv != CKR_OK) return rv;
                   fn = "C_Digest";
                   return RunWithOutput(s.output, 64, OutputCap(0), [&](CK_BYTE_PTR out, CK_ULONG_PTR length) {
                     return f->C_Digest(s.session, s.input.data(), s.input.size(), out, length);
                   });
                 },
                 [](Napi::Env env, State& s) -> Napi::Value { return ToBuffer(env, s.output.data(), s.output.size()); }));
}

Napi::Value Module::WrapKey(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    std::unique_ptr<Mechanism> mechanism;
    CK_OBJECT_HANDLE wrappingKey;
    CK_OBJECT_HANDLE key;
    SecureBytes output;
  };
  State state{ToULong(info[0], "session"), Mechanism::From(info[1], "mechanism"), ToULong(info[2], "wrappingKey"),
              ToULong(info[3], "key"), SecureBytes()};
  return Run(info, 4,
             MakeJob(
                 "C_WrapKey", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   return RunWithOutput(s.output, kMinimumOutput, OutputCap(0), [&](CK_BYTE_PTR out, CK_ULONG_PTR length) {
                     return f->C_WrapKey(s.session, s.mechanism->get(), s.wrappingKey, s.key, out, length);
                   });
                 },
                 [](Napi::Env env, State& s) -> Napi::Value { return ToBuffer(env, s.output.data(), s.output.size()); }));
}

Napi::Value Module::UnwrapKey(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    std::unique_ptr<Mechanism> mechanism;
    CK_OBJECT_HANDLE unwrappingKey;
    SecureBytes wrapped;
    std::unique_ptr<Template> attributes;
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  };
  State state{ToULong(info[0], "session"), Mechanism::From(info[1], "mechanism"), ToULong(info[2], "unwrappingKey"),
              ToBytes(info[3], "wrappedKey"), Template::From(info[4], "template")};
  return Run(info, 5,
             MakeJob(
                 "C_UnwrapKey", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   return f->C_UnwrapKey(s.session, s.mechanism->get(), s.unwrappingKey, s.wrapped.data(),
                                         s.wrapped.size(), s.attributes->data(), s.attributes->size(), &s.handle);
                 },
                 [](Napi::Env env, State& s) -> Napi::Value { return FromULong(env, s.handle); }));
}

Napi::Value Module::DeriveKey(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    std::unique_ptr<Mechanism> mechanism;
    CK_OBJECT_HANDLE baseKey;
    std::unique_ptr<Template> attributes;
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  };
  State state{ToULong(info[0], "session"), Mechanism::From(info[1], "mechanism"), ToULong(info[2], "baseKey"),
              Template::From(info[3], "template")};
  return Run(info, 4,
             MakeJob(
                 "C_DeriveKey", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   return f->C_DeriveKey(s.session, s.mechanism->get(), s.baseKey, s.attributes->data(),
                                         s.attributes->size(), &s.handle);
                 },
                 [](Napi::Env env, State& s) -> Napi::Value { return FromULong(env, s.handle); }));
}

}  // namespace mhsm
