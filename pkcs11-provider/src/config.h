// The library's configuration: the JSON file MHSM_PKCS11_CONF names (by default
// ~/.config/mhsm/pkcs11.json), one slot per HSM. `mhsm pkcs11 config` writes a working one.
//
//   { "log": "/path/to/file.log",          (optional; stderr by default)
//     "slots": [ { "label": "mhsm", "url": "https://localhost:8443", "tenantId": "...",
//                  "clientId": "...", "clientSecretFile": "/path (0600)", "caFile": "/path/ca.pem",
//                  "scope": "https://managedhsm.azure.net/.default" (optional) } ] }
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace mhsm {

struct SlotConfig {
  std::string label;
  std::string url;  // without a trailing slash
  std::string tenantId;
  std::string clientId;
  std::string clientSecret;  // read from clientSecretFile
  std::string caFile;
  std::string scope;
};

struct Config {
  std::string path;
  std::string logFile;
  std::vector<SlotConfig> slots;
};

/** What is wrong with the configuration, for the log. */
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string configPath();
Config loadConfig(const std::string& path);

}  // namespace mhsm
