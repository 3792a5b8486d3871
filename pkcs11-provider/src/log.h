// The library's log: one line per event, to stderr or to the file the configuration names. What
// a refused call was refused for goes here (the PKCS#11 return value cannot say it). Never key
// material, secrets or access tokens: callers pass the service's error code and message only.
#pragma once
#include <string>

namespace mhsm {

void setLogFile(const std::string& path);  // empty: stderr
void logLine(const std::string& message);

}  // namespace mhsm
