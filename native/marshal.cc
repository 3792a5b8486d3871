#include "marshal.h"

#include <cmath>
#include <cstring>
#include <string>

namespace mhsm {

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

void Zero(uint8_t* data, size_t size) {
  volatile uint8_t* p = data;
  while (size-- > 0) *p++ = 0;
}

[[noreturn]] void ThrowType(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

}  // namespace

SecureBytes::SecureBytes(size_t size)
    : data_(size ? new uint8_t[size]() : nullptr), size_(size), capacity_(size) {}

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

CK_ULONG ToULong(const Napi::Value& value, const char* what) {
  if (!value.IsNumber()) ThrowType(value.Env(), std::string(what) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0) || number > kMaxSafeInteger || std::floor(number) != number) {
    ThrowType(value.Env(), std::string(what) + " must be a non-negative integer");
  }
  return static_cast<CK_ULONG>(number);
}

Napi::Value FromULong(Napi::Env env, CK_ULONG value) {
  return Napi::Number::New(env, static_cast<double>(value));
}

SecureBytes ToBytes(const Napi::Value& value, const char* what, bool allowString) {
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
  ThrowType(value.Env(), std::string(what) + (allowString ? " must be a Buffer or a string" : " must be a Buffer"));
}

Napi::Buffer<uint8_t> ToBuffer(Napi::Env env, const uint8_t* data, size_t size) {
  return Napi::Buffer<uint8_t>::Copy(env, data, size);
}

bool ToBool(const Napi::Value& value, const char* what) {
  if (!value.IsBoolean()) ThrowType(value.Env(), std::string(what) + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

std::unique_ptr<Template> Template::From(const Napi::Value& value, const char* what) {
  Napi::Env env = value.Env();
  if (!value.IsArray()) ThrowType(env, std::string(what) + " must be an array of { type, value }");
  Napi::Array array = value.As<Napi::Array>();
  auto result = std::make_unique<Template>();
  uint32_t length = array.Length();
  result->attributes_.reserve(length);
  result->values_.reserve(length);
  for (uint32_t i = 0; i < length; i++) {
    std::string where = std::string(what) + "[" + std::to_string(i) + "]";
    Napi::Value item = array.Get(i);
    if (!item.IsObject()) ThrowType(env, where + " must be an object { type, value }");
    Napi::Object entry = item.As<Napi::Object>();
    CK_ATTRIBUTE attribute{};
    attribute.type = ToULong(entry.Get("type"), (where + ".type").c_str());
    Napi::Value v = entry.Get("value");
    SecureBytes bytes;
    if (v.IsBoolean()) {
      CK_BBOOL flag = v.As<Napi::Boolean>().Value() ? CK_TRUE : CK_FALSE;
      bytes = SecureBytes(&flag, sizeof flag);
    } else if (v.IsNumber()) {
      CK_ULONG number = ToULong(v, (where + ".value").c_str());
      bytes = SecureBytes(reinterpret_cast<const uint8_t*>(&number), sizeof number);
    } else if (v.IsTypedArray() || v.IsString()) {
      bytes = ToBytes(v, (where + ".value").c_str(), true);
    } else {
      ThrowType(env, where + ".value must be a boolean, a number, a Buffer or a string");
    }
    result->values_.push_back(std::move(bytes));
    SecureBytes& stored = result->values_.back();
    attribute.pValue = stored.size() ? stored.data() : nullptr;
    attribute.ulValueLen = static_cast<CK_ULONG>(stored.size());
    result->attributes_.push_back(attribute);
  }
  return result;
}

void Mechanism::ReadOaep(const Napi::Object& oaep, const std::string& what) {
  oaep_.hashAlg = ToULong(oaep.Get("hashAlg"), (what + ".hashAlg").c_str());
  oaep_.mgf = ToULong(oaep.Get("mgf"), (what + ".mgf").c_str());
  Napi::Value source = oaep.Get("source");
  if (source.IsUndefined() || source.IsNull()) {
    oaep_.source = 0;
    oaep_.pSourceData = nullptr;
    oaep_.ulSourceDataLen = 0;
  } else {
    source_ = ToBytes(source, (what + ".source").c_str());
    oaep_.source = CKZ_DATA_SPECIFIED;
    oaep_.pSourceData = source_.size() ? source_.data() : nullptr;
    oaep_.ulSourceDataLen = static_cast<CK_ULONG>(source_.size());
  }
}

std::unique_ptr<Mechanism> Mechanism::From(const Napi::Value& value, const char* what) {
  Napi::Env env = value.Env();
  std::string where(what);
  if (!value.IsObject()) ThrowType(env, where + " must be an object { type, ... }");
  Napi::Object object = value.As<Napi::Object>();
  auto result = std::make_unique<Mechanism>();
  CK_MECHANISM& m = result->mechanism_;
  m.mechanism = ToULong(object.Get("type"), (where + ".type").c_str());

  int kinds = 0;
  for (const char* key : {"parameter", "oaep", "pss", "gcm", "rsaAesKeyWrap"}) {
    Napi::Value v = object.Get(key);
    if (!v.IsUndefined() && !v.IsNull()) kinds++;
  }
  if (kinds > 1) ThrowType(env, where + " must have at most one of parameter, oaep, pss, gcm, rsaAesKeyWrap");

  Napi::Value v;
  if (!(v = object.Get("parameter")).IsUndefined() && !v.IsNull()) {
    result->parameter_ = ToBytes(v, (where + ".parameter").c_str());
    m.pParameter = result->parameter_.size() ? result->parameter_.data() : nullptr;
    m.ulParameterLen = static_cast<CK_ULONG>(result->parameter_.size());
  } else if (!(v = object.Get("oaep")).IsUndefined() && !v.IsNull()) {
    if (!v.IsObject()) ThrowType(env, where + ".oaep must be an object");
    result->ReadOaep(v.As<Napi::Object>(), where + ".oaep");
    m.pParameter = &result->oaep_;
    m.ulParameterLen = sizeof(CK_RSA_PKCS_OAEP_PARAMS);
  } else if (!(v = object.Get("pss")).IsUndefined() && !v.IsNull()) {
    if (!v.IsObject()) ThrowType(env, where + ".pss must be an object");
    Napi::Object pss = v.As<Napi::Object>();
    result->pss_.hashAlg = ToULong(pss.Get("hashAlg"), (where + ".pss.hashAlg").c_str());
    result->pss_.mgf = ToULong(pss.Get("mgf"), (where + ".pss.mgf").c_str());
    result->pss_.sLen = ToULong(pss.Get("saltLength"), (where + ".pss.saltLength").c_str());
    m.pParameter = &result->pss_;
    m.ulParameterLen = sizeof(CK_RSA_PKCS_PSS_PARAMS);
  } else if (!(v = object.Get("gcm")).IsUndefined() && !v.IsNull()) {
    if (!v.IsObject()) ThrowType(env, where + ".gcm must be an object");
    Napi::Object gcm = v.As<Napi::Object>();
    result->parameter_ = ToBytes(gcm.Get("iv"), (where + ".gcm.iv").c_str());
    Napi::Value aad = gcm.Get("aad");
    if (!aad.IsUndefined() && !aad.IsNull()) result->aad_ = ToBytes(aad, (where + ".gcm.aad").c_str());
    CK_GCM_PARAMS& p = result->gcm_;
    p.pIv = result->parameter_.size() ? result->parameter_.data() : nullptr;
    p.ulIvLen = static_cast<CK_ULONG>(result->parameter_.size());
    p.ulIvBits = p.ulIvLen * 8;
    p.pAAD = result->aad_.size() ? result->aad_.data() : nullptr;
    p.ulAADLen = static_cast<CK_ULONG>(result->aad_.size());
    p.ulTagBits = ToULong(gcm.Get("tagBits"), (where + ".gcm.tagBits").c_str());
    m.pParameter = &result->gcm_;
    m.ulParameterLen = sizeof(CK_GCM_PARAMS);
  } else if (!(v = object.Get("rsaAesKeyWrap")).IsUndefined() && !v.IsNull()) {
    if (!v.IsObject()) ThrowType(env, where + ".rsaAesKeyWrap must be an object");
    Napi::Object wrap = v.As<Napi::Object>();
    result->rsaAes_.ulAESKeyBits = ToULong(wrap.Get("aesKeyBits"), (where + ".rsaAesKeyWrap.aesKeyBits").c_str());
    Napi::Value oaep = wrap.Get("oaep");
    if (!oaep.IsObject()) ThrowType(env, where + ".rsaAesKeyWrap.oaep must be an object");
    result->ReadOaep(oaep.As<Napi::Object>(), where + ".rsaAesKeyWrap.oaep");
    result->rsaAes_.pOAEPParams = &result->oaep_;
    m.pParameter = &result->rsaAes_;
    m.ulParameterLen = sizeof(CK_RSA_AES_KEY_WRAP_PARAMS);
  }
  return result;
}

}  // namespace mhsm
