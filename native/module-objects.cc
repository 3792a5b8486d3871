// Object management and key generation.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "marshal.h"
#include "module.h"

namespace mhsm {

namespace {

Napi::Value Handle(Napi::Env env, CK_OBJECT_HANDLE handle) { return FromULong(env, handle); }
Napi::Value Nothing(Napi::Env env) { return env.Undefined(); }

// Handles asked for per C_FindObjects call, and the most one search may return: a million
// objects is far beyond any token this emulator meets, and a module that keeps filling the
// buffer past that reports objects that cannot exist (the search would otherwise never end).
constexpr CK_ULONG kFindChunk = 64;
constexpr size_t kMaxFoundObjects = size_t{1} << 20;

// The longest attribute value a module may report: the longest this emulator reads is an RSA
// modulus (2 KiB at RSA-16384) or an EC point, so a length over 64 KiB, or
// CK_UNAVAILABLE_INFORMATION alongside CKR_OK, is an impossible length, not a buffer to allocate.
constexpr CK_ULONG kMaxAttributeLength = 64 * 1024;

std::string AttributeName(CK_ATTRIBUTE_TYPE type) {
  char name[32];
  std::snprintf(name, sizeof name, "attribute 0x%lX", static_cast<unsigned long>(type));
  return name;
}

// C_FindObjects until it returns a short chunk; throws ImpossibleLength for a count beyond the
// chunk or the cap.
CK_RV CollectHandles(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE session, std::vector<CK_OBJECT_HANDLE>& handles) {
  CK_OBJECT_HANDLE chunk[kFindChunk];
  CK_ULONG count = 0;
  do {
    CK_RV rv = f->C_FindObjects(session, chunk, kFindChunk, &count);
    if (rv != CKR_OK) return rv;
    if (count > kFindChunk) {
      ThrowImpossibleLength(std::to_string(count) + " objects found for a buffer of " + std::to_string(kFindChunk));
    }
    if (handles.size() + count > kMaxFoundObjects) {
      ThrowImpossibleLength("more than " + std::to_string(kMaxFoundObjects) + " objects found in one search");
    }
    handles.insert(handles.end(), chunk, chunk + count);
  } while (count == kFindChunk);
  return CKR_OK;
}

}  // namespace

Napi::Value Module::CreateObject(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    std::unique_ptr<Template> attributes;
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  };
  State state{ToULong(info[0], "session"), Template::From(info[1], "template")};
  return Run(info, 2,
             MakeJob(
                 "C_CreateObject", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   return f->C_CreateObject(s.session, s.attributes->data(), s.attributes->size(), &s.handle);
                 },
                 [](Napi::Env env, State& s) { return Handle(env, s.handle); }));
}

// copyObject(session, handle, template, inline?): C_CopyObject; resolves to the new object's handle.
Napi::Value Module::CopyObject(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE handle;
    std::unique_ptr<Template> attributes;
    CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
  };
  State state{ToULong(info[0], "session"), ToULong(info[1], "handle"), Template::From(info[2], "template")};
  return Run(info, 3,
             MakeJob(
                 "C_CopyObject", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   return f->C_CopyObject(s.session, s.handle, s.attributes->data(), s.attributes->size(), &s.copy);
                 },
                 [](Napi::Env env, State& s) { return Handle(env, s.copy); }));
}

Napi::Value Module::FindObjects(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    std::unique_ptr<Template> attributes;
    std::vector<CK_OBJECT_HANDLE> handles;
  };
  State state{ToULong(info[0], "session"), Template::From(info[1], "template"), {}};
  return Run(info, 2,
             MakeJob(
                 "C_FindObjectsInit", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*& fn) {
                   CK_RV rv = f->C_FindObjectsInit(s.session, s.attributes->data(), s.attributes->size());
                   if (rv != CKR_OK) return rv;
                   fn = "C_FindObjects";
                   std::exception_ptr fault;
                   try {
                     rv = CollectHandles(f, s.session, s.handles);
                   } catch (...) {
                     fault = std::current_exception();
                   }
                   CK_RV finalRv = f->C_FindObjectsFinal(s.session);  // always ends the search
                   if (fault) std::rethrow_exception(fault);
                   if (rv != CKR_OK) return rv;
                   fn = "C_FindObjectsFinal";
                   return finalRv;
                 },
                 [](Napi::Env env, State& s) -> Napi::Value {
                   Napi::Array array = Napi::Array::New(env, s.handles.size());
                   for (size_t i = 0; i < s.handles.size(); i++) {
                     array.Set(static_cast<uint32_t>(i), Handle(env, s.handles[i]));
                   }
                   return array;
                 }));
}

namespace {

// Room for each value in the first try of C_GetAttributeValue.
constexpr CK_ULONG kFirstGuessLength = 160;

struct AttributeRead {
  CK_SESSION_HANDLE session;
  CK_OBJECT_HANDLE handle;
  std::vector<CK_ATTRIBUTE> attributes;
  std::vector<SecureBytes> values;
};

// Whether every length the module reported fits the room it was given (CKR_OK with a length
// past it, or CK_UNAVAILABLE_INFORMATION, is left to the two-call read, which reports it).
bool FitsAll(const AttributeRead& s) {
  return std::all_of(s.attributes.begin(), s.attributes.end(), [](const CK_ATTRIBUTE& a) { return a.ulValueLen <= kFirstGuessLength; });
}

}  // namespace

Napi::Value Module::GetAttributeValue(const Napi::CallbackInfo& info) {
  using State = AttributeRead;
  Napi::Env env = info.Env();
  State state{ToULong(info[0], "session"), ToULong(info[1], "handle"), {}, {}};
  if (!info[2].IsArray()) throw Napi::TypeError::New(env, "types must be an array of attribute types");
  Napi::Array types = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < types.Length(); i++) {
    CK_ATTRIBUTE attribute{};
    attribute.type = ToULong(types.Get(i), Field("types", i, ""));
    state.attributes.push_back(attribute);
  }
  return Run(info, 3,
             MakeJob(
                 "C_GetAttributeValue", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   // One call with room enough for the small attributes most reads ask for (ids,
                   // classes, flags, EC points): a module like SoftHSM2 checks the object's file on
                   // every call, so the two calls below cost twice. On anything but CKR_OK (a value
                   // too long, a sensitive or absent attribute) it is as if it had not happened.
                   s.values.clear();
                   s.values.reserve(s.attributes.size());
                   for (CK_ATTRIBUTE& attribute : s.attributes) {
                     s.values.emplace_back(kFirstGuessLength);
                     attribute.pValue = s.values.back().data();
                     attribute.ulValueLen = kFirstGuessLength;
                   }
                   CK_RV rv = f->C_GetAttributeValue(s.session, s.handle, s.attributes.data(), s.attributes.size());
                   if (rv == CKR_OK && FitsAll(s)) {
                     for (size_t i = 0; i < s.attributes.size(); i++) s.values[i].Truncate(s.attributes[i].ulValueLen);
                     return rv;
                   }
                   for (SecureBytes& value : s.values) value.Wipe();
                   for (CK_ATTRIBUTE& attribute : s.attributes) {
                     attribute.pValue = nullptr;
                     attribute.ulValueLen = 0;
                   }
                   // First the lengths, then the values.
                   rv = f->C_GetAttributeValue(s.session, s.handle, s.attributes.data(), s.attributes.size());
                   if (rv != CKR_OK) return rv;
                   s.values.clear();
                   s.values.reserve(s.attributes.size());
                   for (CK_ATTRIBUTE& attribute : s.attributes) {
                     if (attribute.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
                       ThrowImpossibleLength("CKR_OK with CK_UNAVAILABLE_INFORMATION as the length of " +
                                             AttributeName(attribute.type));
                     }
                     if (attribute.ulValueLen > kMaxAttributeLength) {
                       ThrowImpossibleLength(AttributeName(attribute.type) + " of " + std::to_string(attribute.ulValueLen) +
                                             " bytes (at most " + std::to_string(kMaxAttributeLength) + " expected)");
                     }
                     s.values.emplace_back(attribute.ulValueLen);
                     attribute.pValue = attribute.ulValueLen ? s.values.back().data() : nullptr;
                   }
                   rv = f->C_GetAttributeValue(s.session, s.handle, s.attributes.data(), s.attributes.size());
                   if (rv != CKR_OK) return rv;
                   for (size_t i = 0; i < s.attributes.size(); i++) {
                     if (s.attributes[i].ulValueLen > s.values[i].size()) {
                       for (SecureBytes& value : s.values) value.Wipe();
                       ThrowImpossibleLength("CKR_OK with " + std::to_string(s.attributes[i].ulValueLen) +
                                             " bytes written into a buffer of " + std::to_string(s.values[i].size()) +
                                             " for " + AttributeName(s.attributes[i].type));
                     }
                     s.values[i].Truncate(s.attributes[i].ulValueLen);
                   }
                   return rv;
                 },
                 [](Napi::Env env, State& s) -> Napi::Value {
                   Napi::Array array = Napi::Array::New(env, s.values.size());
                   for (size_t i = 0; i < s.values.size(); i++) {
                     array.Set(static_cast<uint32_t>(i), ToBuffer(env, s.values[i].data(), s.values[i].size()));
                   }
                   return array;
                 }));
}

Napi::Value Module::SetAttributeValue(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE handle;
    std::unique_ptr<Template> attributes;
  };
  State state{ToULong(info[0], "session"), ToULong(info[1], "handle"), Template::From(info[2], "template")};
  return Run(info, 3,
             MakeJob(
                 "C_SetAttributeValue", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   return f->C_SetAttributeValue(s.session, s.handle, s.attributes->data(), s.attributes->size());
                 },
                 [](Napi::Env env, State&) { return Nothing(env); }));
}

Napi::Value Module::DestroyObject(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE handle;
  };
  State state{ToULong(info[0], "session"), ToULong(info[1], "handle")};
  return Run(info, 2,
             MakeJob(
                 "C_DestroyObject", state,
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) { return f->C_DestroyObject(s.session, s.handle); },
                 [](Napi::Env env, State&) { return Nothing(env); }));
}

Napi::Value Module::GenerateKey(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    std::unique_ptr<Mechanism> mechanism;
    std::unique_ptr<Template> attributes;
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  };
  State state{ToULong(info[0], "session"), Mechanism::From(info[1], "mechanism"),
              Template::From(info[2], "template")};
  return Run(info, 3,
             MakeJob(
                 "C_GenerateKey", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   return f->C_GenerateKey(s.session, s.mechanism->get(), s.attributes->data(), s.attributes->size(),
                                           &s.handle);
                 },
                 [](Napi::Env env, State& s) { return Handle(env, s.handle); }));
}

Napi::Value Module::GenerateKeyPair(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    std::unique_ptr<Mechanism> mechanism;
    std::unique_ptr<Template> publicAttributes;
    std::unique_ptr<Template> privateAttributes;
    CK_OBJECT_HANDLE publicKey = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE privateKey = CK_INVALID_HANDLE;
  };
  State state{ToULong(info[0], "session"), Mechanism::From(info[1], "mechanism"),
              Template::From(info[2], "publicTemplate"), Template::From(info[3], "privateTemplate")};
  return Run(info, 4,
             MakeJob(
                 "C_GenerateKeyPair", std::move(state),
                 [](CK_FUNCTION_LIST_PTR f, State& s, const char*&) {
                   return f->C_GenerateKeyPair(s.session, s.mechanism->get(), s.publicAttributes->data(),
                                               s.publicAttributes->size(), s.privateAttributes->data(),
                                               s.privateAttributes->size(), &s.publicKey, &s.privateKey);
                 },
                 [](Napi::Env env, State& s) -> Napi::Value {
                   Napi::Object pair = Napi::Object::New(env);
                   pair.Set("publicKey", Handle(env, s.publicKey));
                   pair.Set("privateKey", Handle(env, s.privateKey));
                   return pair;
                 }));
}

}  // namespace mhsm
