// Conversions between JavaScript values and PKCS#11 structures, made on the JS thread so that
// worker threads only ever touch plain C memory owned by the job.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "cryptoki.h"

namespace mhsm {

// Bytes that are overwritten with zeros when released: PINs, key values, plaintexts.
class SecureBytes {
 public:
  SecureBytes() = default;
  explicit SecureBytes(size_t size);
  SecureBytes(const uint8_t* data, size_t size);
  ~SecureBytes();
  SecureBytes(SecureBytes&& other) noexcept;
  SecureBytes& operator=(SecureBytes&& other) noexcept;
  SecureBytes(const SecureBytes&) = delete;
  SecureBytes& operator=(const SecureBytes&) = delete;

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  // Shrinks the visible length; the full capacity is still wiped on release.
  void Truncate(size_t size);
  void Wipe();

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// The name of an argument or a field inside one, for error messages: base[index]path, for example
// "template[2].value" or "mechanism.gcm.iv". Only turned into a string when a check fails.
struct Field {
  Field(const char* base) : base(base) {}  // NOLINT: implicit from a plain argument name
  Field(const char* base, const char* path) : base(base), path(path) {}
  Field(const char* base, uint32_t index, const char* path) : base(base), path(path), index(index), indexed(true) {}
  std::string Name() const;

  const char* base;
  const char* path = "";
  uint32_t index = 0;
  bool indexed = false;
};

// Bytes a call reads. When the call runs inline, a view of the caller's buffer (it can neither
// change nor move during a synchronous call); for a worker thread, a copy the job owns.
class InputBytes {
 public:
  InputBytes() = default;
  InputBytes(const uint8_t* view, size_t size) : data_(view), size_(size) {}
  explicit InputBytes(SecureBytes owned) : owned_(std::move(owned)) {
    data_ = owned_.data();
    size_ = owned_.size();
  }
  // PKCS#11 takes input through non-const pointers but does not write to it. Empty input still
  // gets a pointer: SoftHSM2 answers a NULL one with CKR_ARGUMENTS_BAD and leaves the operation
  // active, so that the session refuses every later call with CKR_OPERATION_ACTIVE.
  CK_BYTE_PTR data() const {
    static CK_BYTE empty = 0;
    return size_ == 0 ? &empty : const_cast<CK_BYTE_PTR>(data_);
  }
  CK_ULONG size() const { return static_cast<CK_ULONG>(size_); }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  SecureBytes owned_;
};

// A non-negative integer that fits a CK_ULONG and a JS number exactly (slot, session, handle, type).
CK_ULONG ToULong(const Napi::Value& value, const Field& field);
Napi::Value FromULong(Napi::Env env, CK_ULONG value);

// Bytes from a Buffer/Uint8Array (or a string, as UTF-8, when allowString).
SecureBytes ToBytes(const Napi::Value& value, const Field& field, bool allowString = false);
InputBytes ToInput(const Napi::Value& value, const Field& field, bool borrow);
Napi::Buffer<uint8_t> ToBuffer(Napi::Env env, const uint8_t* data, size_t size);

bool ToBool(const Napi::Value& value, const Field& field);

// Property names looked up on every call, created once per environment and kept in an array (Node 20
// cannot hold a reference to a string): a string V8 has seen as a key before is found much faster
// than one made from a C string on each call.
enum class Key : uint32_t {
  type, value, parameter, oaep, pss, gcm, rsaAesKeyWrap, hashAlg, mgf, source, saltLength, iv, aad, tagBits, aesKeyBits,
  ecdh1, kdf, publicData, sharedData
};
void CreatePropertyKeys(Napi::Env env);
Napi::Value Get(const Napi::Object& object, Key key);

// [{ type, value }] where value is boolean (CK_BBOOL), number (CK_ULONG), Buffer or string.
class Template {
 public:
  static std::unique_ptr<Template> From(const Napi::Value& value, const char* name);
  CK_ATTRIBUTE_PTR data() { return attributes_.empty() ? nullptr : attributes_.data(); }
  CK_ULONG size() const { return static_cast<CK_ULONG>(attributes_.size()); }

 private:
  std::vector<CK_ATTRIBUTE> attributes_;
  std::vector<SecureBytes> values_;
};

// { type, parameter?: Buffer } or { type, oaep | pss | gcm | rsaAesKeyWrap | ecdh1: {...} }.
class Mechanism {
 public:
  static std::unique_ptr<Mechanism> From(const Napi::Value& value, const char* name);
  CK_MECHANISM_PTR get() { return &mechanism_; }
  CK_MECHANISM_TYPE type() const { return mechanism_.mechanism; }

 private:
  void ReadOaep(const Napi::Object& oaep, const char* name, const char* path);
  CK_MECHANISM mechanism_{};
  SecureBytes parameter_;
  SecureBytes aad_;
  SecureBytes source_;
  CK_GCM_PARAMS gcm_{};
  CK_RSA_PKCS_OAEP_PARAMS oaep_{};
  CK_RSA_PKCS_PSS_PARAMS pss_{};
  CK_RSA_AES_KEY_WRAP_PARAMS rsaAes_{};
  CK_ECDH1_DERIVE_PARAMS ecdh1_{};
  SecureBytes publicData_;
  SecureBytes sharedData_;
};

}  // namespace mhsm
