#include "der.h"

#include <cstring>

namespace mhsm {
namespace {

const Curve CURVES[] = {
    {"P-256", "prime256v1", {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}, 32},
    {"P-384", "secp384r1", {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}, 48},
    {"P-521", "secp521r1", {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23}, 66},
    {"P-256K", "secp256k1", {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}, 32},
};

const char* ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int valueOf(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

}  // namespace

const Curve* curveByName(const std::string& crv) {
  for (const Curve& curve : CURVES) {
    if (crv == curve.jwkName) return &curve;
  }
  return nullptr;
}

const Curve* curveByParams(const uint8_t* der, size_t length) {
  for (const Curve& curve : CURVES) {
    if (length == curve.params.size() && std::memcmp(der, curve.params.data(), length) == 0) return &curve;
  }
  return nullptr;
}

void appendDerLength(Bytes& out, size_t length) {
  if (length < 0x80) {
    out.push_back(static_cast<uint8_t>(length));
  } else if (length < 0x100) {
    out.push_back(0x81);
    out.push_back(static_cast<uint8_t>(length));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<uint8_t>(length >> 8));
    out.push_back(static_cast<uint8_t>(length));
  }
}

Bytes ecPointOctetString(const Bytes& x, const Bytes& y) {
  Bytes out = {0x04};
  appendDerLength(out, 1 + x.size() + y.size());
  out.push_back(0x04);
  out.insert(out.end(), x.begin(), x.end());
  out.insert(out.end(), y.begin(), y.end());
  return out;
}

std::string base64url(const uint8_t* data, size_t length) {
  std::string out;
  out.reserve((length + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < length; i += 3) {
    uint32_t n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += ALPHABET[(n >> 18) & 63];
    out += ALPHABET[(n >> 12) & 63];
    out += ALPHABET[(n >> 6) & 63];
    out += ALPHABET[n & 63];
  }
  if (i + 1 == length) {
    uint32_t n = data[i] << 16;
    out += ALPHABET[(n >> 18) & 63];
    out += ALPHABET[(n >> 12) & 63];
  } else if (i + 2 == length) {
    uint32_t n = (data[i] << 16) | (data[i + 1] << 8);
    out += ALPHABET[(n >> 18) & 63];
    out += ALPHABET[(n >> 12) & 63];
    out += ALPHABET[(n >> 6) & 63];
  }
  return out;
}

std::optional<Bytes> fromBase64url(const std::string& text) {
  Bytes out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    int v = valueOf(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(buffer >> bits));
    }
  }
  return out;
}

}  // namespace mhsm
