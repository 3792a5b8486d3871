// HTTPS requests with libcurl: the peer and its host name always verified, against the CA file
// of the configuration when it names one. Connections are kept in a small pool of curl handles,
// so that a call after the first reuses its TLS session.
#pragma once
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace mhsm {

struct HttpResponse {
  long status = 0;
  std::string body;
};

/** The service could not be reached, or TLS failed: CKR_DEVICE_ERROR. */
class NetworkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class HttpClient {
 public:
  explicit HttpClient(std::string caFile);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse send(const std::string& method, const std::string& url, const std::vector<std::string>& headers, const std::string& body);

 private:
  void* take();
  void give(void* handle);

  std::string caFile_;
  std::mutex mutex_;
  std::vector<void*> idle_;
};

}  // namespace mhsm
