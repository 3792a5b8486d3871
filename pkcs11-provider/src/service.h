// One HSM's REST API, as the configured principal: client credentials from the emulated tenant,
// the access token kept until a minute before it expires and fetched again after a 401.
#pragma once
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "config.h"
#include "http-client.h"

namespace mhsm {

/** The service answered with an error: its status, code and message. */
class ServiceError : public std::runtime_error {
 public:
  ServiceError(long status, std::string code, const std::string& message)
      : std::runtime_error(code + ": " + message), status(status), code(std::move(code)) {}
  long status;
  std::string code;
};

class Service {
 public:
  explicit Service(const SlotConfig& config);
  ~Service();

  /** METHOD PATH (under the HSM's URL, api-version added) with a JSON body; the JSON answer. */
  nlohmann::json call(const std::string& method, const std::string& path, const std::optional<nlohmann::json>& body = std::nullopt);
  /** Fetches a token now if none is held: the check C_OpenSession makes. */
  void authenticate();
  const std::string& url() const { return config_.url; }

 private:
  std::string token(bool renew);

  SlotConfig config_;
  HttpClient http_;
  std::mutex tokenMutex_;
  std::string token_;
  std::chrono::steady_clock::time_point renewAt_{};
};

std::string urlEncode(const std::string& value);

}  // namespace mhsm
