// The few DER encodings PKCS#11 attributes carry: a curve's OID (CKA_EC_PARAMS) and an EC point
// in an OCTET STRING (CKA_EC_POINT), and the JWK names of those curves.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mhsm {

using Bytes = std::vector<uint8_t>;

struct Curve {
  const char* jwkName;     // crv, as Managed HSM names it
  const char* opensslName; // for local public-key work
  Bytes params;            // DER OID, CKA_EC_PARAMS
  size_t coordinateBytes;
};

const Curve* curveByName(const std::string& crv);
const Curve* curveByParams(const uint8_t* der, size_t length);
/** 04 || x || y in a DER OCTET STRING, as CKA_EC_POINT holds it. */
Bytes ecPointOctetString(const Bytes& x, const Bytes& y);
/** A DER length prefix for `length` bytes. */
void appendDerLength(Bytes& out, size_t length);

std::string base64url(const uint8_t* data, size_t length);
inline std::string base64url(const Bytes& data) { return base64url(data.data(), data.size()); }
std::optional<Bytes> fromBase64url(const std::string& text);

}  // namespace mhsm
