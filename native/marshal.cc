#include "marshal.h"

#include <cmath>
#include <cstring>
#include <string>

namespace mhsm {

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

// memset, then a barrier so that the compiler cannot drop it as a dead store.
void Zero(uint8_t* data, size_t size) {
  std::memset(data, 0, size);
  __asm__ __volatile__("" : : "r"(data) : "memory");
}

[[noreturn]] void ThrowType(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

}  // namespace

// Not zero-filled: callers either copy into it or read back only what the token wrote.
SecureBytes::SecureBytes(size_t size) : data_(size ? new uint8_t[size] : nullptr), size_(size), capacity_(size) {}

SecureBytes::SecureBytes(const uint8_t* data, size_t size) : SecureBytes(size) {
  if (size) std::memcpy(data_.get(), data, size);
}

SecureBytes::~SecureBytes() { Wipe(); }

SecureBytes::SecureBytes(SecureBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(other.size_), capacity_(other.capacity_) {
  other.size_ = other.capacity_ = 0;
}

SecureBytes& SecureBytes::operator=(SecureBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    size_ = other.size_;
    capacity_ = other.capacity_;
    other.size_ = other.capacity_ = 0;
  }
  return *this;
}

void SecureBytes::Truncate(size_t size) {
  if (size < size_) size_ = size;
}

void SecureBytes::Wipe() {
  if (data_) Zero(data_.get(), capacity_);
}

std::string Field::Name() const {
  std::string name(base);
  if (indexed) name += "[" + std::to_string(index) + "]";
  return name + path;
}

namespace {
constexpr const char* kKeyNames[] = {"type", "value", "parameter", "oaep", "pss", "gcm", "rsaAesKeyWrap", "hashAlg",
                                     "mgf", "source", "saltLength", "iv", "aad", "tagBits", "aesKeyBits",
                                     "ecdh1", "kdf", "publicData", "sharedData"};
}  // namespace

void CreatePropertyKeys(Napi::Env env) {
  Napi::Array names = Napi::Array::New(env);
  for (uint32_t i = 0; i < sizeof kKeyNames / sizeof kKeyNames[0]; i++) names.Set(i, Napi::String::New(env, kKeyNames[i]));
  env.SetInstanceData(new Napi::ObjectReference(Napi::Persistent(names.As<Napi::Object>())));
}

Napi::Value Get(const Napi::Object& object, Key key) {
  Napi::ObjectReference* names = object.Env().GetInstanceData<Napi::ObjectReference>();
  return object.Get(names->Value().Get(static_cast<uint32_t>(key)));
}

CK_ULONG ToULong(const Napi::Value& value, const Field& field) {
  if (!value.IsNumber()) ThrowType(value.Env(), field.Name() + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0) || number > kMaxSafeInteger || std::floor(number) != number) {
    ThrowType(value.Env(), field.Name() + " must be a non-negative integer");
  }
  return static_cast<CK_ULONG>(number);
}

Napi::Value FromULong(Napi::Env env, CK_ULONG value) {
  return Napi::Number::New(env, static_cast<double>(value));
}

SecureBytes ToBytes(const Napi::Value& value, const Field& field, bool allowString) {
  if (value.IsTypedArray()) {
    Napi::TypedArray typed = value.As<Napi::TypedArray>();
    if (typed.TypedArrayType() == napi_uint8_array) {
      Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
      return SecureBytes(bytes.Data(), bytes.ByteLength());
    }
  }
  if (allowString && value.IsString()) {
    std::string text = value.As<Napi::String>().Utf8Value();
    SecureBytes bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    Zero(reinterpret_cast<uint8_t*>(text.data()), text.size());
    return bytes;
  }
  ThrowType(value.Env(), field.Name() + (allowString ? " must be a Buffer or a string" : " must be a Buffer"));
}

InputBytes ToInput(const Napi::Value& value, const Field& field, bool borrow) {
  if (borrow && value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
    return InputBytes(bytes.Data(), bytes.ByteLength());
  }
  return InputBytes(ToBytes(value, field));
}

Napi::Buffer<uint8_t> ToBuffer(Napi::Env env, const uint8_t* data, size_t size) {
  return Napi::Buffer<uint8_t>::Copy(env, data, size);
}

bool ToBool(const Napi::Value& value, const Field& field) {
  if (!value.IsBoolean()) ThrowType(value.Env(), field.Name() + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

namespace {

bool Present(const Napi::Value& value) { return !value.IsUndefined() && !value.IsNull(); }

Napi::Object ObjectField(const Napi::Value& value, const Field& field) {
  if (!value.IsObject()) ThrowType(value.Env(), field.Name() + " must be an object");
  return value.As<Napi::Object>();
}

}  // namespace

std::unique_ptr<Template> Template::From(const Napi::Value& value, const char* name) {
  Napi::Env env = value.Env();
  if (!value.IsArray()) ThrowType(env, std::string(name) + " must be an array of { type, value }");
  Napi::Array array = value.As<Napi::Array>();
  auto result = std::make_unique<Template>();
  uint32_t length = array.Length();
  result->attributes_.reserve(length);
  result->values_.reserve(length);
  for (uint32_t i = 0; i < length; i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsObject()) ThrowType(env, Field(name, i, "").Name() + " must be an object { type, value }");
    Napi::Object entry = item.As<Napi::Object>();
    CK_ATTRIBUTE attribute{};
    attribute.type = ToULong(Get(entry, Key::type), Field(name, i, ".type"));
    Napi::Value v = Get(entry, Key::value);
    SecureBytes bytes;
    if (v.IsBoolean()) {
      CK_BBOOL flag = v.As<Napi::Boolean>().Value() ? CK_TRUE : CK_FALSE;
      bytes = SecureBytes(&flag, sizeof flag);
    } else if (v.IsNumber()) {
      CK_ULONG number = ToULong(v, Field(name, i, ".value"));
      bytes = SecureBytes(reinterpret_cast<const uint8_t*>(&number), sizeof number);
    } else if (v.IsTypedArray() || v.IsString()) {
      bytes = ToBytes(v, Field(name, i, ".value"), true);
    } else {
      ThrowType(env, Field(name, i, ".value").Name() + " must be a boolean, a number, a Buffer or a string");
    }
    result->values_.push_back(std::move(bytes));
    SecureBytes& stored = result->values_.back();
    attribute.pValue = stored.size() ? stored.data() : nullptr;
    attribute.ulValueLen = static_cast<CK_ULONG>(stored.size());
    result->attributes_.push_back(attribute);
  }
  return result;
}

void Mechanism::ReadOaep(const Napi::Object& oaep, const char* name, const char* path) {
  std::string prefix(path);
  oaep_.hashAlg = ToULong(Get(oaep, Key::hashAlg), Field(name, (prefix + ".hashAlg").c_str()));
  oaep_.mgf = ToULong(Get(oaep, Key::mgf), Field(name, (prefix + ".mgf").c_str()));
  // CKZ_DATA_SPECIFIED is the only source type; an absent label is empty data.
  oaep_.source = CKZ_DATA_SPECIFIED;
  Napi::Value source = Get(oaep, Key::source);
  if (Present(source)) source_ = ToBytes(source, Field(name, (prefix + ".source").c_str()));
  oaep_.pSourceData = source_.size() ? source_.data() : nullptr;
  oaep_.ulSourceDataLen = static_cast<CK_ULONG>(source_.size());
}

std::unique_ptr<Mechanism> Mechanism::From(const Napi::Value& value, const char* name) {
  Napi::Env env = value.Env();
  if (!value.IsObject()) ThrowType(env, std::string(name) + " must be an object { type, ... }");
  Napi::Object object = value.As<Napi::Object>();
  auto result = std::make_unique<Mechanism>();
  CK_MECHANISM& m = result->mechanism_;
  m.mechanism = ToULong(Get(object, Key::type), Field(name, ".type"));

  Napi::Value parameter = Get(object, Key::parameter);
  Napi::Value oaep = Get(object, Key::oaep);
  Napi::Value pss = Get(object, Key::pss);
  Napi::Value gcm = Get(object, Key::gcm);
  Napi::Value rsaAes = Get(object, Key::rsaAesKeyWrap);
  Napi::Value ecdh1 = Get(object, Key::ecdh1);
  if (Present(parameter) + Present(oaep) + Present(pss) + Present(gcm) + Present(rsaAes) + Present(ecdh1) > 1) {
    ThrowType(env, std::string(name) + " must have at most one of parameter, oaep, pss, gcm, rsaAesKeyWrap, ecdh1");
  }

  if (Present(parameter)) {
    result->parameter_ = ToBytes(parameter, Field(name, ".parameter"));
    m.pParameter = result->parameter_.size() ? result->parameter_.data() : nullptr;
    m.ulParameterLen = static_cast<CK_ULONG>(result->parameter_.size());
  } else if (Present(oaep)) {
    result->ReadOaep(ObjectField(oaep, Field(name, ".oaep")), name, ".oaep");
    m.pParameter = &result->oaep_;
    m.ulParameterLen = sizeof(CK_RSA_PKCS_OAEP_PARAMS);
  } else if (Present(pss)) {
    Napi::Object p = ObjectField(pss, Field(name, ".pss"));
    result->pss_.hashAlg = ToULong(Get(p, Key::hashAlg), Field(name, ".pss.hashAlg"));
    result->pss_.mgf = ToULong(Get(p, Key::mgf), Field(name, ".pss.mgf"));
    result->pss_.sLen = ToULong(Get(p, Key::saltLength), Field(name, ".pss.saltLength"));
    m.pParameter = &result->pss_;
    m.ulParameterLen = sizeof(CK_RSA_PKCS_PSS_PARAMS);
  } else if (Present(gcm)) {
    Napi::Object g = ObjectField(gcm, Field(name, ".gcm"));
    result->parameter_ = ToBytes(Get(g, Key::iv), Field(name, ".gcm.iv"));
    Napi::Value aad = Get(g, Key::aad);
    if (Present(aad)) result->aad_ = ToBytes(aad, Field(name, ".gcm.aad"));
    CK_GCM_PARAMS& p = result->gcm_;
    p.pIv = result->parameter_.size() ? result->parameter_.data() : nullptr;
    p.ulIvLen = static_cast<CK_ULONG>(result->parameter_.size());
    p.ulIvBits = p.ulIvLen * 8;
    p.pAAD = result->aad_.size() ? result->aad_.data() : nullptr;
    p.ulAADLen = static_cast<CK_ULONG>(result->aad_.size());
    p.ulTagBits = ToULong(Get(g, Key::tagBits), Field(name, ".gcm.tagBits"));
    m.pParameter = &result->gcm_;
    m.ulParameterLen = sizeof(CK_GCM_PARAMS);
  } else if (Present(rsaAes)) {
    Napi::Object w = ObjectField(rsaAes, Field(name, ".rsaAesKeyWrap"));
    result->rsaAes_.ulAESKeyBits = ToULong(Get(w, Key::aesKeyBits), Field(name, ".rsaAesKeyWrap.aesKeyBits"));
    Napi::Value inner = Get(w, Key::oaep);
    result->ReadOaep(ObjectField(inner, Field(name, ".rsaAesKeyWrap.oaep")), name, ".rsaAesKeyWrap.oaep");
    result->rsaAes_.pOAEPParams = &result->oaep_;
    m.pParameter = &result->rsaAes_;
    m.ulParameterLen = sizeof(CK_RSA_AES_KEY_WRAP_PARAMS);
  } else if (Present(ecdh1)) {
    Napi::Object d = ObjectField(ecdh1, Field(name, ".ecdh1"));
    result->ecdh1_.kdf = ToULong(Get(d, Key::kdf), Field(name, ".ecdh1.kdf"));
    result->publicData_ = ToBytes(Get(d, Key::publicData), Field(name, ".ecdh1.publicData"));
    Napi::Value shared = Get(d, Key::sharedData);
    if (Present(shared)) result->sharedData_ = ToBytes(shared, Field(name, ".ecdh1.sharedData"));
    result->ecdh1_.pPublicData = result->publicData_.size() ? result->publicData_.data() : nullptr;
    result->ecdh1_.ulPublicDataLen = static_cast<CK_ULONG>(result->publicData_.size());
    result->ecdh1_.pSharedData = result->sharedData_.size() ? result->sharedData_.data() : nullptr;
    result->ecdh1_.ulSharedDataLen = static_cast<CK_ULONG>(result->sharedData_.size());
    m.pParameter = &result->ecdh1_;
    m.ulParameterLen = sizeof(CK_ECDH1_DERIVE_PARAMS);
  }
  return result;
}

}  // namespace mhsm
