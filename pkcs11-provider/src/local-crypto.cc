#include "local-crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <memory>

namespace mhsm {
namespace {

struct Freer {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, Freer>;

Owned<EVP_PKEY> publicKeyOf(const KeyInfo& key) {
  Owned<OSSL_PARAM_BLD> build(OSSL_PARAM_BLD_new());
  Owned<BIGNUM> n, e;
  Bytes point;
  const char* type = nullptr;
  if (key.kty == "RSA") {
    type = "RSA";
    n.reset(BN_bin2bn(key.n.data(), static_cast<int>(key.n.size()), nullptr));
    e.reset(BN_bin2bn(key.e.data(), static_cast<int>(key.e.size()), nullptr));
    OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, n.get());
    OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, e.get());
  } else if (key.kty == "EC" && key.curve) {
    type = "EC";
    point.push_back(0x04);
    point.insert(point.end(), key.x.begin(), key.x.end());
    point.insert(point.end(), key.y.begin(), key.y.end());
    OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME, key.curve->opensslName, 0);
    OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  } else {
    return nullptr;
  }
  Owned<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(build.get()));
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* made = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 || EVP_PKEY_fromdata(ctx.get(), &made, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) return nullptr;
  return Owned<EVP_PKEY>(made);
}

}  // namespace

Bytes digestOf(const char* hash, const Bytes& data) {
  const EVP_MD* md = EVP_get_digestbyname(hash);
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int length = 0;
  if (!md || EVP_Digest(data.data(), data.size(), out.data(), &length, md, nullptr) != 1) return {};
  out.resize(length);
  return out;
}

bool verifyRsa(const KeyInfo& key, RsaPadding padding, const char* hash, size_t saltLength, const Bytes& input, const Bytes& signature) {
  Owned<EVP_PKEY> pkey = publicKeyOf(key);
  if (!pkey) return false;
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new(pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) <= 0) return false;
  if (padding == RsaPadding::Pkcs1) {
    if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) <= 0) return false;
  } else {
    const EVP_MD* md = EVP_get_digestbyname(hash);
    if (!md || EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) <= 0 || EVP_PKEY_CTX_set_signature_md(ctx.get(), md) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) <= 0 || EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), static_cast<int>(saltLength)) <= 0) {
      return false;
    }
  }
  return EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), input.data(), input.size()) == 1;
}

std::optional<Bytes> rsaEncrypt(const KeyInfo& key, const char* oaepHash, const Bytes& plaintext) {
  Owned<EVP_PKEY> pkey = publicKeyOf(key);
  if (!pkey) return std::nullopt;
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new(pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) <= 0) return std::nullopt;
  if (oaepHash) {
    const EVP_MD* md = EVP_get_digestbyname(oaepHash);
    if (!md || EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0 || EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) <= 0) return std::nullopt;
  } else if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) <= 0) {
    return std::nullopt;
  }
  size_t length = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &length, plaintext.data(), plaintext.size()) <= 0) return std::nullopt;
  Bytes out(length);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &length, plaintext.data(), plaintext.size()) <= 0) return std::nullopt;
  out.resize(length);
  return out;
}

std::optional<Bytes> aesLocally(CK_MECHANISM_TYPE mode, const Bytes& key, const Bytes& iv, const Bytes& aad, bool encrypt, const Bytes& input) {
  const bool gcm = mode == CKM_AES_GCM;
  const char* size = key.size() == 16 ? "128" : key.size() == 24 ? "192" : key.size() == 32 ? "256" : nullptr;
  if (!size) return std::nullopt;
  const EVP_CIPHER* cipher = EVP_get_cipherbyname((std::string("aes-") + size + (gcm ? "-gcm" : "-cbc")).c_str());
  Owned<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  constexpr size_t TAG = 16;
  Bytes body = input;
  Bytes tag;
  if (gcm && !encrypt) {
    if (body.size() < TAG) return std::nullopt;
    tag.assign(body.end() - TAG, body.end());
    body.resize(body.size() - TAG);
  }
  if (!cipher || !ctx || EVP_CipherInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr, encrypt ? 1 : 0) != 1) return std::nullopt;
  if (gcm && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) != 1) return std::nullopt;
  if (EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, key.data(), iv.data(), -1) != 1) return std::nullopt;
  if (!gcm) EVP_CIPHER_CTX_set_padding(ctx.get(), mode == CKM_AES_CBC_PAD ? 1 : 0);
  int n = 0;
  if (gcm && !aad.empty() && EVP_CipherUpdate(ctx.get(), nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1) return std::nullopt;
  Bytes out(body.size() + 32);
  int written = 0;
  if (EVP_CipherUpdate(ctx.get(), out.data(), &n, body.data(), static_cast<int>(body.size())) != 1) return std::nullopt;
  written = n;
  if (gcm && !encrypt && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(TAG), tag.data()) != 1) return std::nullopt;
  if (EVP_CipherFinal_ex(ctx.get(), out.data() + written, &n) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return std::nullopt;
  }
  written += n;
  out.resize(static_cast<size_t>(written));
  if (gcm && encrypt) {
    tag.resize(TAG);
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(TAG), tag.data()) != 1) return std::nullopt;
    out.insert(out.end(), tag.begin(), tag.end());
  }
  OPENSSL_cleanse(body.data(), body.size());
  return out;
}

bool verifyEcdsa(const KeyInfo& key, const Bytes& digest, const Bytes& signature) {
  size_t half = key.curve ? key.curve->coordinateBytes : 0;
  if (half == 0 || signature.size() != 2 * half) return false;
  Owned<EVP_PKEY> pkey = publicKeyOf(key);
  if (!pkey) return false;
  Owned<ECDSA_SIG> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(signature.data(), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(signature.data() + half, static_cast<int>(half), nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  unsigned char* der = nullptr;
  int length = i2d_ECDSA_SIG(sig.get(), &der);
  if (length <= 0) return false;
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new(pkey.get(), nullptr));
  bool ok = ctx && EVP_PKEY_verify_init(ctx.get()) > 0 && EVP_PKEY_verify(ctx.get(), der, static_cast<size_t>(length), digest.data(), digest.size()) == 1;
  OPENSSL_free(der);
  return ok;
}

}  // namespace mhsm
