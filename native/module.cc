#include "module.h"

#include <cstring>
#include <string>
#include <vector>

#include "errors.h"
#include "library.h"
#include "marshal.h"

namespace mhsm {

namespace {

// Cryptoki strings are fixed-width and blank-padded.
Napi::String PaddedString(Napi::Env env, const CK_UTF8CHAR* text, size_t width) {
  size_t length = width;
  while (length > 0 && (text[length - 1] == ' ' || text[length - 1] == '\0')) length--;
  return Napi::String::New(env, reinterpret_cast<const char*>(text), length);
}

Napi::Object Version(Napi::Env env, const CK_VERSION& version) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("major", version.major);
  object.Set("minor", version.minor);
  return object;
}

Napi::Object TokenInfoObject(Napi::Env env, const CK_TOKEN_INFO& info) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("label", PaddedString(env, info.label, sizeof info.label));
  object.Set("manufacturerId", PaddedString(env, info.manufacturerID, sizeof info.manufacturerID));
  object.Set("model", PaddedString(env, info.model, sizeof info.model));
  object.Set("serialNumber", PaddedString(env, info.serialNumber, sizeof info.serialNumber));
  object.Set("flags", FromULong(env, info.flags));
  object.Set("maxSessionCount", FromULong(env, info.ulMaxSessionCount));
  object.Set("sessionCount", FromULong(env, info.ulSessionCount));
  object.Set("maxRwSessionCount", FromULong(env, info.ulMaxRwSessionCount));
  object.Set("rwSessionCount", FromULong(env, info.ulRwSessionCount));
  object.Set("maxPinLen", FromULong(env, info.ulMaxPinLen));
  object.Set("minPinLen", FromULong(env, info.ulMinPinLen));
  object.Set("hardwareVersion", Version(env, info.hardwareVersion));
  object.Set("firmwareVersion", Version(env, info.firmwareVersion));
  return object;
}

// A 32-character blank-padded token label.
SecureBytes PaddedLabel(const Napi::Value& value) {
  if (!value.IsString()) throw Napi::TypeError::New(value.Env(), "label must be a string");
  std::string label = value.As<Napi::String>().Utf8Value();
  if (label.empty() || label.size() > 32) {
    throw Napi::TypeError::New(value.Env(), "label must be 1 to 32 bytes of UTF-8");
  }
  SecureBytes padded(32);
  std::memset(padded.data(), ' ', 32);
  std::memcpy(padded.data(), label.data(), label.size());
  return padded;
}

CK_UTF8CHAR_PTR PinPointer(SecureBytes& pin) {
  return pin.size() ? reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()) : nullptr;
}

// The most slots or mechanisms a module may list: real modules list a few hundred at most, so a
// larger count is an impossible length, not a vector to allocate.
constexpr CK_ULONG kMaxListLength = 64 * 1024;
constexpr int kListAttempts = 4;

// A list read by the call-twice pattern: call(nullptr, &count), then call(buffer, &count), again
// if the list grew in between (initialising a token adds a slot), a few times at most.
template <typename T, typename Call>
std::vector<T> ReadList(Napi::Env env, const char* fn, Call call) {
  for (int attempt = 0; attempt < kListAttempts; attempt++) {
    CK_ULONG count = 0;
    Check(env, call(nullptr, &count), fn);
    if (count == 0) return {};
    if (count > kMaxListLength) {
      throw MakeModuleFaultError(env, fn, std::to_string(count) + " entries (at most " + std::to_string(kMaxListLength) +
                                              " expected)");
    }
    std::vector<T> list(count);
    CK_RV rv = call(list.data(), &count);
    if (rv == CKR_BUFFER_TOO_SMALL) continue;
    Check(env, rv, fn);
    if (count > list.size()) {
      throw MakeModuleFaultError(env, fn, "CKR_OK with " + std::to_string(count) + " entries written into a buffer of " +
                                              std::to_string(list.size()));
    }
    list.resize(count);
    return list;
  }
  throw MakeModuleFaultError(env, fn, "CKR_BUFFER_TOO_SMALL " + std::to_string(kListAttempts) +
                                          " times, each after the count it had just reported");
}

}  // namespace

bool InlineArgument(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || info[index].IsUndefined()) return false;
  return ToBool(info[index], "inline");
}

Napi::Function Module::Define(Napi::Env env) {
  return DefineClass(
      env, "Module",
      {
          InstanceAccessor<&Module::Path>("path"),
          InstanceMethod<&Module::Initialize>("initialize"),
          InstanceMethod<&Module::Finalize>("finalize"),
          InstanceMethod<&Module::GetInfo>("getInfo"),
          InstanceMethod<&Module::GetSlotList>("getSlotList"),
          InstanceMethod<&Module::GetSlotInfo>("getSlotInfo"),
          InstanceMethod<&Module::GetTokenInfo>("getTokenInfo"),
          InstanceMethod<&Module::GetMechanismList>("getMechanismList"),
          InstanceMethod<&Module::GetMechanismInfo>("getMechanismInfo"),
          InstanceMethod<&Module::InitToken>("initToken"),
          InstanceMethod<&Module::InitPin>("initPin"),
          InstanceMethod<&Module::SetPin>("setPin"),
          InstanceMethod<&Module::OpenSession>("openSession"),
          InstanceMethod<&Module::CloseSession>("closeSession"),
          InstanceMethod<&Module::CloseAllSessions>("closeAllSessions"),
          InstanceMethod<&Module::Login>("login"),
          InstanceMethod<&Module::Logout>("logout"),
          InstanceMethod<&Module::GenerateRandom>("generateRandom"),
          InstanceMethod<&Module::CreateObject>("createObject"),
          InstanceMethod<&Module::CopyObject>("copyObject"),
          InstanceMethod<&Module::FindObjects>("findObjects"),
          InstanceMethod<&Module::GetAttributeValue>("getAttributeValue"),
          InstanceMethod<&Module::SetAttributeValue>("setAttributeValue"),
          InstanceMethod<&Module::DestroyObject>("destroyObject"),
          InstanceMethod<&Module::GenerateKey>("generateKey"),
          InstanceMethod<&Module::GenerateKeyPair>("generateKeyPair"),
          InstanceMethod<&Module::Encrypt>("encrypt"),
          InstanceMethod<&Module::Decrypt>("decrypt"),
          InstanceMethod<&Module::Sign>("sign"),
          InstanceMethod<&Module::Verify>("verify"),
          InstanceMethod<&Module::Digest>("digest"),
          InstanceMethod<&Module::WrapKey>("wrapKey"),
          InstanceMethod<&Module::UnwrapKey>("unwrapKey"),
          InstanceMethod<&Module::DeriveKey>("deriveKey"),
      });
}

Module::Module(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Module>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "path must be a string naming a PKCS#11 module");
  }
  path_ = info[0].As<Napi::String>().Utf8Value();
  if (path_.empty()) throw Napi::TypeError::New(env, "path must not be empty");
  LoadResult loaded = LoadLibrary(path_);
  if (loaded.functions == nullptr) {
    throw MakeCodedError(env, loaded.errorCode.c_str(), loaded.errorMessage);
  }
  functions_ = loaded.functions;
}

Napi::Value Module::Run(const Napi::CallbackInfo& info, size_t inlineIndex, std::unique_ptr<Job> job) {
  return Dispatch(info.Env(), functions_, std::move(job), InlineArgument(info, inlineIndex));
}

Napi::Value Module::Path(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), path_); }

Napi::Value Module::Initialize(const Napi::CallbackInfo& info) {
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  Check(info.Env(), functions_->C_Initialize(&args), "C_Initialize");
  return info.Env().Undefined();
}

Napi::Value Module::Finalize(const Napi::CallbackInfo& info) {
  Check(info.Env(), functions_->C_Finalize(nullptr), "C_Finalize");
  return info.Env().Undefined();
}

Napi::Value Module::GetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CK_INFO ck{};
  Check(env, functions_->C_GetInfo(&ck), "C_GetInfo");
  Napi::Object object = Napi::Object::New(env);
  object.Set("cryptokiVersion", Version(env, ck.cryptokiVersion));
  object.Set("manufacturerId", PaddedString(env, ck.manufacturerID, sizeof ck.manufacturerID));
  object.Set("flags", FromULong(env, ck.flags));
  object.Set("libraryDescription", PaddedString(env, ck.libraryDescription, sizeof ck.libraryDescription));
  object.Set("libraryVersion", Version(env, ck.libraryVersion));
  return object;
}

Napi::Value Module::GetSlotList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CK_BBOOL tokenPresent = ToBool(info[0], "tokenPresent") ? CK_TRUE : CK_FALSE;
  std::vector<CK_SLOT_ID> slots = ReadList<CK_SLOT_ID>(env, "C_GetSlotList", [&](CK_SLOT_ID_PTR list, CK_ULONG_PTR count) {
    return functions_->C_GetSlotList(tokenPresent, list, count);
  });
  Napi::Array array = Napi::Array::New(env, slots.size());
  for (size_t i = 0; i < slots.size(); i++) array.Set(static_cast<uint32_t>(i), FromULong(env, slots[i]));
  return array;
}

Napi::Value Module::GetSlotInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CK_SLOT_ID slot = ToULong(info[0], "slot");
  CK_SLOT_INFO ck{};
  Check(env, functions_->C_GetSlotInfo(slot, &ck), "C_GetSlotInfo");
  Napi::Object object = Napi::Object::New(env);
  object.Set("slotDescription", PaddedString(env, ck.slotDescription, sizeof ck.slotDescription));
  object.Set("manufacturerId", PaddedString(env, ck.manufacturerID, sizeof ck.manufacturerID));
  object.Set("flags", FromULong(env, ck.flags));
  object.Set("hardwareVersion", Version(env, ck.hardwareVersion));
  object.Set("firmwareVersion", Version(env, ck.firmwareVersion));
  return object;
}

Napi::Value Module::GetTokenInfo(const Napi::CallbackInfo& info) {
  struct State {
    CK_SLOT_ID slot;
    CK_TOKEN_INFO info{};
  };
  State state{ToULong(info[0], "slot")};
  return Run(info, 1,
             MakeJob(
                 "C_GetTokenInfo", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) { return f->C_GetTokenInfo(s.slot, &s.info); },
                 [](Napi::Env env, State& s) -> Napi::Value { return TokenInfoObject(env, s.info); }));
}

Napi::Value Module::GetMechanismList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CK_SLOT_ID slot = ToULong(info[0], "slot");
  std::vector<CK_MECHANISM_TYPE> types =
      ReadList<CK_MECHANISM_TYPE>(env, "C_GetMechanismList", [&](CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count) {
        return functions_->C_GetMechanismList(slot, list, count);
      });
  Napi::Array array = Napi::Array::New(env, types.size());
  for (size_t i = 0; i < types.size(); i++) array.Set(static_cast<uint32_t>(i), FromULong(env, types[i]));
  return array;
}

Napi::Value Module::GetMechanismInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CK_SLOT_ID slot = ToULong(info[0], "slot");
  CK_MECHANISM_TYPE type = ToULong(info[1], "type");
  CK_MECHANISM_INFO ck{};
  Check(env, functions_->C_GetMechanismInfo(slot, type, &ck), "C_GetMechanismInfo");
  Napi::Object object = Napi::Object::New(env);
  object.Set("minKeySize", FromULong(env, ck.ulMinKeySize));
  object.Set("maxKeySize", FromULong(env, ck.ulMaxKeySize));
  object.Set("flags", FromULong(env, ck.flags));
  return object;
}

Napi::Value Module::InitToken(const Napi::CallbackInfo& info) {
  struct State {
    CK_SLOT_ID slot;
    SecureBytes soPin;
    SecureBytes label;
  };
  State state{ToULong(info[0], "slot"), ToBytes(info[1], "soPin", true), PaddedLabel(info[2])};
  return Run(info, 3,
             MakeJob(
                 "C_InitToken", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   return f->C_InitToken(s.slot, PinPointer(s.soPin), s.soPin.size(), s.label.data());
                 },
                 [](Napi::Env env, State&) -> Napi::Value { return env.Undefined(); }));
}

Napi::Value Module::InitPin(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    SecureBytes pin;
  };
  State state{ToULong(info[0], "session"), ToBytes(info[1], "pin", true)};
  return Run(info, 2,
             MakeJob(
                 "C_InitPIN", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   return f->C_InitPIN(s.session, PinPointer(s.pin), s.pin.size());
                 },
                 [](Napi::Env env, State&) -> Napi::Value { return env.Undefined(); }));
}

Napi::Value Module::SetPin(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    SecureBytes oldPin;
    SecureBytes newPin;
  };
  State state{ToULong(info[0], "session"), ToBytes(info[1], "oldPin", true), ToBytes(info[2], "newPin", true)};
  return Run(info, 3,
             MakeJob(
                 "C_SetPIN", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   return f->C_SetPIN(s.session, PinPointer(s.oldPin), s.oldPin.size(), PinPointer(s.newPin),
                                      s.newPin.size());
                 },
                 [](Napi::Env env, State&) -> Napi::Value { return env.Undefined(); }));
}

Napi::Value Module::OpenSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CK_SLOT_ID slot = ToULong(info[0], "slot");
  CK_FLAGS flags = info.Length() > 1 && !info[1].IsUndefined() ? ToULong(info[1], "flags")
                                                                : CKF_RW_SESSION;
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  Check(env, functions_->C_OpenSession(slot, flags | CKF_SERIAL_SESSION, nullptr, nullptr, &session),
        "C_OpenSession");
  return FromULong(env, session);
}

Napi::Value Module::CloseSession(const Napi::CallbackInfo& info) {
  Check(info.Env(), functions_->C_CloseSession(ToULong(info[0], "session")), "C_CloseSession");
  return info.Env().Undefined();
}

Napi::Value Module::CloseAllSessions(const Napi::CallbackInfo& info) {
  Check(info.Env(), functions_->C_CloseAllSessions(ToULong(info[0], "slot")), "C_CloseAllSessions");
  return info.Env().Undefined();
}

Napi::Value Module::Login(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    CK_USER_TYPE userType;
    SecureBytes pin;
  };
  State state{ToULong(info[0], "session"), ToULong(info[1], "userType"), ToBytes(info[2], "pin", true)};
  return Run(info, 3,
             MakeJob(
                 "C_Login", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   CK_RV rv = f->C_Login(s.session, s.userType, PinPointer(s.pin), s.pin.size());
                   s.pin.Wipe();
                   return rv;
                 },
                 [](Napi::Env env, State&) -> Napi::Value { return env.Undefined(); }));
}

Napi::Value Module::Logout(const Napi::CallbackInfo& info) {
  Check(info.Env(), functions_->C_Logout(ToULong(info[0], "session")), "C_Logout");
  return info.Env().Undefined();
}

Napi::Value Module::GenerateRandom(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    SecureBytes bytes;
  };
  CK_SESSION_HANDLE session = ToULong(info[0], "session");
  CK_ULONG length = ToULong(info[1], "length");
  if (length == 0 || length > (1u << 20)) {
    throw Napi::RangeError::New(info.Env(), "length must be between 1 and 1048576");
  }
  return Run(info, 2,
             MakeJob(
                 "C_GenerateRandom", State{session, SecureBytes(length)},
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   return f->C_GenerateRandom(s.session, s.bytes.data(), s.bytes.size());
                 },
                 [](Napi::Env env, State& s) -> Napi::Value { return ToBuffer(env, s.bytes.data(), s.bytes.size()); }));
}

}  // namespace mhsm
