// Object management and key generation.
#include <vector>

#include "marshal.h"
#include "module.h"

namespace mhsm {

namespace {

Napi::Value Handle(Napi::Env env, CK_OBJECT_HANDLE handle) { return FromULong(env, handle); }
Napi::Value Nothing(Napi::Env env) { return env.Undefined(); }

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
                   CK_OBJECT_HANDLE chunk[64];
                   CK_ULONG count = 0;
                   do {
                     rv = f->C_FindObjects(s.session, chunk, 64, &count);
                     if (rv != CKR_OK) break;
                     s.handles.insert(s.handles.end(), chunk, chunk + count);
                   } while (count == 64);
                   CK_RV finalRv = f->C_FindObjectsFinal(s.session);  // always ends the search
                   if (rv != CKR_OK) {
                     fn = "C_FindObjects";
                     return rv;
                   }
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

Napi::Value Module::GetAttributeValue(const Napi::CallbackInfo& info) {
  struct State {
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE handle;
    std::vector<CK_ATTRIBUTE> attributes;
    std::vector<SecureBytes> values;
  };
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
                   // First the lengths, then the values.
                   CK_RV rv = f->C_GetAttributeValue(s.session, s.handle, s.attributes.data(), s.attributes.size());
                   if (rv != CKR_OK) return rv;
                   s.values.clear();
                   s.values.reserve(s.attributes.size());
                   for (CK_ATTRIBUTE& attribute : s.attributes) {
                     s.values.emplace_back(attribute.ulValueLen);
                     attribute.pValue = attribute.ulValueLen ? s.values.back().data() : nullptr;
                   }
                   rv = f->C_GetAttributeValue(s.session, s.handle, s.attributes.data(), s.attributes.size());
                   for (size_t i = 0; rv == CKR_OK && i < s.attributes.size(); i++) {
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
