#include "http-client.h"

#include <curl/curl.h>

namespace mhsm {
namespace {

constexpr long CONNECT_TIMEOUT_S = 10;
// RSA-4096 generation on a busy token takes seconds; a minute means something is wrong.
constexpr long REQUEST_TIMEOUT_S = 60;
constexpr size_t MAX_IDLE = 16;
constexpr size_t MAX_BODY = 16 * 1024 * 1024;

size_t collect(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * count > MAX_BODY) return 0;  // aborts the transfer
  body->append(data, size * count);
  return size * count;
}

struct Headers {
  curl_slist* list = nullptr;
  ~Headers() { curl_slist_free_all(list); }
};

}  // namespace

HttpClient::HttpClient(std::string caFile) : caFile_(std::move(caFile)) {}

HttpClient::~HttpClient() {
  for (void* handle : idle_) curl_easy_cleanup(static_cast<CURL*>(handle));
}

void* HttpClient::take() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      void* handle = idle_.back();
      idle_.pop_back();
      return handle;
    }
  }
  CURL* handle = curl_easy_init();
  if (!handle) throw NetworkError("curl_easy_init failed");
  return handle;
}

void HttpClient::give(void* handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.size() < MAX_IDLE) {
    idle_.push_back(handle);
  } else {
    curl_easy_cleanup(static_cast<CURL*>(handle));
  }
}

HttpResponse HttpClient::send(const std::string& method, const std::string& url, const std::vector<std::string>& headers, const std::string& body) {
  CURL* curl = static_cast<CURL*>(take());
  curl_easy_reset(curl);
  HttpResponse response;
  Headers list;
  for (const std::string& header : headers) list.list = curl_slist_append(list.list, header.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list.list);
  if (method != "GET" && method != "DELETE") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!caFile_.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, caFile_.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    curl_easy_cleanup(curl);
    throw NetworkError(std::string(curl_easy_strerror(code)) + (error[0] ? std::string(": ") + error : "") + " (" + method + " " + url.substr(0, url.find('?')) + ")");
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  // The request's headers (the bearer token among them) are not kept past this call.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  give(curl);
  return response;
}

}  // namespace mhsm
