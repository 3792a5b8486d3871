#include "service.h"

#include <openssl/crypto.h>

#include <cctype>

namespace mhsm {
namespace {

using nlohmann::json;
constexpr const char* API_VERSION = "7.6";

json parseBody(const HttpResponse& response) {
  if (response.body.empty()) return json();
  try {
    return json::parse(response.body);
  } catch (const json::exception&) {
    return json();
  }
}

/** The error envelope's code and message: {"error":{"code","message"}}, or the tenant's form. */
ServiceError errorOf(const HttpResponse& response) {
  json body = parseBody(response);
  std::string code = "HTTP" + std::to_string(response.status);
  std::string message = "no error body";
  if (body.is_object()) {
    if (body.contains("error") && body["error"].is_object()) {
      code = body["error"].value("code", code);
      message = body["error"].value("message", message);
    } else if (body.contains("error") && body["error"].is_string()) {
      code = body["error"].get<std::string>();
      message = body.value("error_description", message);
    }
  }
  return ServiceError(response.status, code, message);
}

}  // namespace

std::string urlEncode(const std::string& value) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

Service::Service(const SlotConfig& config) : config_(config), http_(config.caFile) {}

Service::~Service() {
  OPENSSL_cleanse(config_.clientSecret.data(), config_.clientSecret.size());
  OPENSSL_cleanse(token_.data(), token_.size());
}

std::string Service::token(bool renew) {
  std::lock_guard<std::mutex> lock(tokenMutex_);
  auto now = std::chrono::steady_clock::now();
  if (!renew && !token_.empty() && now < renewAt_) return token_;
  std::string secret = urlEncode(config_.clientSecret);
  std::string form = "grant_type=client_credentials&client_id=" + urlEncode(config_.clientId) + "&client_secret=" + secret + "&scope=" + urlEncode(config_.scope);
  OPENSSL_cleanse(secret.data(), secret.size());
  HttpResponse response = http_.send("POST", config_.url + "/" + urlEncode(config_.tenantId) + "/oauth2/v2.0/token", {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"}, form);
  OPENSSL_cleanse(form.data(), form.size());
  if (response.status != 200) {
    ServiceError error = errorOf(response);
    throw ServiceError(response.status, error.code, "the tenant refused a token for client " + config_.clientId + ": " + std::string(error.what()));
  }
  json body = parseBody(response);
  if (!body.is_object() || !body.contains("access_token") || !body["access_token"].is_string()) throw ServiceError(response.status, "invalid_response", "the token endpoint gave no access_token");
  OPENSSL_cleanse(token_.data(), token_.size());
  token_ = body["access_token"].get<std::string>();
  long expiresIn = body.value("expires_in", 3600L);
  renewAt_ = now + std::chrono::seconds(expiresIn > 120 ? expiresIn - 60 : expiresIn / 2);
  return token_;
}

void Service::authenticate() { token(false); }

json Service::call(const std::string& method, const std::string& path, const std::optional<json>& body) {
  std::string url = config_.url + path + (path.find('?') == std::string::npos ? "?" : "&") + "api-version=" + API_VERSION;
  std::string payload = body ? body->dump() : "";
  for (int attempt = 0;; attempt++) {
    std::string held = token(attempt > 0);
    std::vector<std::string> headers = {"Authorization: Bearer " + held, "Accept: application/json"};
    OPENSSL_cleanse(held.data(), held.size());
    if (body) headers.push_back("Content-Type: application/json");
    HttpResponse response = http_.send(method, url, headers, payload);
    OPENSSL_cleanse(headers[0].data(), headers[0].size());
    // A token the service no longer takes (expired early, or the HSM restarted): one fresh try.
    if (response.status == 401 && attempt == 0) continue;
    if (response.status < 200 || response.status >= 300) throw errorOf(response);
    return parseBody(response);
  }
}

}  // namespace mhsm
