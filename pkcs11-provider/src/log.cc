#include "log.h"

#include <cstdio>
#include <ctime>
#include <mutex>

namespace mhsm {
namespace {
std::mutex logMutex;
std::string logPath;
}  // namespace

void setLogFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(logMutex);
  logPath = path;
}

void logLine(const std::string& message) {
  std::lock_guard<std::mutex> lock(logMutex);
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
  FILE* out = stderr;
  FILE* file = nullptr;
  if (!logPath.empty()) {
    file = std::fopen(logPath.c_str(), "a");
    if (file) out = file;
  }
  std::fprintf(out, "%s libmhsm-pkcs11: %s\n", stamp, message.c_str());
  if (file) std::fclose(file);
}

}  // namespace mhsm
