#include "config.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace mhsm {
namespace {

using nlohmann::json;

std::string readFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(what + " " + path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string stringField(const json& slot, const std::string& name, size_t index, bool required = true) {
  auto it = slot.find(name);
  if (it == slot.end() || it->is_null()) {
    if (!required) return "";
    throw ConfigError("slots[" + std::to_string(index) + "]." + name + ": required");
  }
  if (!it->is_string() || it->get<std::string>().empty()) throw ConfigError("slots[" + std::to_string(index) + "]." + name + ": must be a non-empty string");
  return it->get<std::string>();
}

/**
 * The client secret, from a regular file of this user's that only its owner can read: the library
 * refuses a looser one. Checked on the descriptor it reads (no symbolic link, no race).
 */
std::string readSecret(const std::string& path, size_t index) {
  const std::string field = "slots[" + std::to_string(index) + "].clientSecretFile " + path;
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw ConfigError(field + (errno == ENOENT ? ": does not exist" : errno == ELOOP ? ": is a symbolic link; name the file itself" : ": cannot be read"));
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    throw ConfigError(field + ": must be a regular file");
  }
  if (info.st_uid != geteuid() || (info.st_mode & 077) != 0) {
    close(fd);
    throw ConfigError(field + ": must be readable by its owner only (chmod 600), and that owner this user");
  }
  std::string secret;
  char buffer[512];
  for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) secret.append(buffer, static_cast<size_t>(n));
  OPENSSL_cleanse(buffer, sizeof buffer);
  close(fd);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
  if (secret.empty()) throw ConfigError("slots[" + std::to_string(index) + "].clientSecretFile " + path + ": is empty");
  return secret;
}

}  // namespace

std::string configPath() {
  if (const char* named = std::getenv("MHSM_PKCS11_CONF"); named && *named) return named;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.config/mhsm/pkcs11.json";
}

Config loadConfig(const std::string& path) {
  json document;
  try {
    document = json::parse(readFile(path, "configuration file"));
  } catch (const json::exception& error) {
    throw ConfigError("configuration file " + path + ": not JSON (" + error.what() + ")");
  }
  if (!document.is_object()) throw ConfigError("configuration file " + path + ": must be a JSON object");
  Config config;
  config.path = path;
  if (auto log = document.find("log"); log != document.end() && !log->is_null()) {
    if (!log->is_string()) throw ConfigError("log: must be a file path");
    config.logFile = log->get<std::string>();
  }
  auto slots = document.find("slots");
  if (slots == document.end() || !slots->is_array() || slots->empty()) throw ConfigError("slots: required, an array of at least one HSM");
  for (size_t i = 0; i < slots->size(); i++) {
    const json& slot = (*slots)[i];
    if (!slot.is_object()) throw ConfigError("slots[" + std::to_string(i) + "]: must be an object");
    SlotConfig s;
    s.label = stringField(slot, "label", i, false);
    if (s.label.empty()) s.label = "mhsm";
    if (s.label.size() > 32) throw ConfigError("slots[" + std::to_string(i) + "].label: 32 characters at most (a PKCS#11 token label)");
    s.url = stringField(slot, "url", i);
    if (s.url.rfind("https://", 0) != 0) throw ConfigError("slots[" + std::to_string(i) + "].url: must be an https:// URL (TLS is always verified)");
    while (!s.url.empty() && s.url.back() == '/') s.url.pop_back();
    s.tenantId = stringField(slot, "tenantId", i);
    s.clientId = stringField(slot, "clientId", i);
    s.clientSecret = readSecret(stringField(slot, "clientSecretFile", i), i);
    s.caFile = stringField(slot, "caFile", i, false);
    if (!s.caFile.empty()) {
      struct stat info {};
      if (stat(s.caFile.c_str(), &info) != 0) throw ConfigError("slots[" + std::to_string(i) + "].caFile " + s.caFile + ": does not exist");
    }
    s.scope = stringField(slot, "scope", i, false);
    if (s.scope.empty()) s.scope = "https://managedhsm.azure.net/.default";
    config.slots.push_back(std::move(s));
  }
  return config;
}

}  // namespace mhsm
