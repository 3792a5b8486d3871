#include "library.h"

#include <curl/curl.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "log.h"

namespace mhsm {
namespace {

std::unique_ptr<Library> current;
pid_t currentPid = 0;  // the process that initialized it: a forked child starts again
constexpr CK_SLOT_ID FIRST_SLOT = 1;

/** The path and query of a nextLink without its api-version (Service::call adds its own). */
std::string pathOfNextLink(const std::string& link) {
  size_t scheme = link.find("://");
  size_t start = scheme == std::string::npos ? std::string::npos : link.find('/', scheme + 3);
  if (start == std::string::npos) return "";
  std::string rest = link.substr(start);
  size_t mark = rest.find('?');
  if (mark == std::string::npos) return rest;
  std::string path = rest.substr(0, mark), query;
  std::string all = rest.substr(mark + 1);
  for (size_t from = 0; from <= all.size();) {
    size_t end = all.find('&', from);
    std::string part = all.substr(from, end == std::string::npos ? std::string::npos : end - from);
    if (!part.empty() && part.rfind("api-version=", 0) != 0) query += (query.empty() ? "" : "&") + part;
    if (end == std::string::npos) break;
    from = end + 1;
  }
  return query.empty() ? path : path + "?" + query;
}

}  // namespace

CipherOperation::~CipherOperation() {
  OPENSSL_cleanse(data.data(), data.size());
  if (result) OPENSSL_cleanse(result->data(), result->size());
  if (sessionKey) OPENSSL_cleanse(sessionKey->data(), sessionKey->size());
}

Library* library() { return current && currentPid == getpid() ? current.get() : nullptr; }

CK_RV initializeLibrary() {
  std::string path = configPath();
  try {
    Config config = loadConfig(path);
    setLogFile(config.logFile);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      logLine("C_Initialize: libcurl could not be initialised");
      return CKR_FUNCTION_FAILED;
    }
    // A forked child's copy of its parent's state shares the parent's connections: it is left
    // as it is (not freed: freeing would close what the parent still uses), and made anew.
    if (current && currentPid != getpid()) (void)current.release();
    current = std::make_unique<Library>(std::move(config));
    currentPid = getpid();
    return CKR_OK;
  } catch (const ConfigError& error) {
    logLine(std::string("C_Initialize: ") + error.what() + " (configuration: " + path + ", named by MHSM_PKCS11_CONF)");
    return CKR_FUNCTION_FAILED;
  }
}

void finalizeLibrary() {
  current.reset();
  curl_global_cleanup();
}

Library::Library(Config config) : config_(std::move(config)) {
  CK_SLOT_ID id = FIRST_SLOT;
  for (const SlotConfig& slotConfig : config_.slots) {
    auto slot = std::make_unique<Slot>();
    slot->id = id++;
    slot->config = slotConfig;
    slot->service = std::make_unique<Service>(slotConfig);
    slots_.push_back(std::move(slot));
  }
  // The secrets now live in the services only.
  for (SlotConfig& slotConfig : config_.slots) OPENSSL_cleanse(slotConfig.clientSecret.data(), slotConfig.clientSecret.size());
  for (auto& slot : slots_) OPENSSL_cleanse(slot->config.clientSecret.data(), slot->config.clientSecret.size());
}

Slot* Library::slot(CK_SLOT_ID id) {
  for (auto& slot : slots_) {
    if (slot->id == id) return slot.get();
  }
  return nullptr;
}

std::shared_ptr<Session> Library::openSession(CK_SLOT_ID slot, CK_FLAGS flags) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto session = std::make_shared<Session>();
  session->handle = nextSession_++;
  session->slot = slot;
  session->flags = flags;
  sessions_[session->handle] = session;
  return session;
}

std::shared_ptr<Session> Library::session(CK_SESSION_HANDLE handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sessions_.find(handle);
  return it == sessions_.end() ? nullptr : it->second;
}

bool Library::closeSession(CK_SESSION_HANDLE handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sessions_.find(handle);
  if (it == sessions_.end()) return false;
  CK_SLOT_ID slotId = it->second->slot;
  sessions_.erase(it);
  dropSessionObjectsOf(handle);
  bool any = false;
  for (auto& [h, s] : sessions_) any = any || s->slot == slotId;
  if (!any) {
    if (Slot* s = slot(slotId)) s->loggedIn = false;
  }
  return true;
}

void Library::closeAllSessions(CK_SLOT_ID slotId) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->second->slot == slotId) {
      dropSessionObjectsOf(it->first);
      it = sessions_.erase(it);
    } else {
      it = std::next(it);
    }
  }
  if (Slot* s = slot(slotId)) s->loggedIn = false;
}

size_t Library::sessionCount(CK_SLOT_ID slotId) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t count = 0;
  for (auto& [h, s] : sessions_) count += s->slot == slotId ? 1 : 0;
  return count;
}

CK_OBJECT_HANDLE Library::handleFor(CK_SLOT_ID slot, const std::string& name, CK_OBJECT_CLASS objectClass) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto key = std::make_tuple(slot, name, objectClass);
  auto it = handles_.find(key);
  if (it != handles_.end()) return it->second;
  CK_OBJECT_HANDLE handle = nextObject_++;
  handles_[key] = handle;
  objects_[handle] = ObjectRef{slot, name, objectClass};
  return handle;
}

std::optional<ObjectRef> Library::object(CK_OBJECT_HANDLE handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = objects_.find(handle);
  if (it == objects_.end()) return std::nullopt;
  if (it->second.objectClass == CKO_PUBLIC_KEY && hiddenPublic_.count({it->second.slot, it->second.name}) > 0) return std::nullopt;
  return it->second;
}

void Library::hidePublic(CK_SLOT_ID slot, const std::string& name, bool hidden) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (hidden) {
    hiddenPublic_.insert({slot, name});
  } else {
    hiddenPublic_.erase({slot, name});
  }
}

bool Library::publicHidden(CK_SLOT_ID slot, const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  return hiddenPublic_.count({slot, name}) > 0;
}

void Library::dropSessionObjectsOf(CK_SESSION_HANDLE owner) {
  for (auto it = sessionObjects_.begin(); it != sessionObjects_.end();) it = it->second.owner == owner ? sessionObjects_.erase(it) : std::next(it);
}

CK_OBJECT_HANDLE Library::addSessionObject(SessionObject object) {
  std::lock_guard<std::mutex> lock(mutex_);
  CK_OBJECT_HANDLE handle = nextObject_++;
  sessionObjects_.emplace(handle, std::move(object));
  return handle;
}

std::optional<SessionObject> Library::sessionObject(CK_OBJECT_HANDLE handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sessionObjects_.find(handle);
  if (it == sessionObjects_.end()) return std::nullopt;
  return it->second;
}

bool Library::destroySessionObject(CK_OBJECT_HANDLE handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  return sessionObjects_.erase(handle) > 0;
}

std::vector<CK_OBJECT_HANDLE> Library::sessionObjectsMatching(CK_SLOT_ID slot, const CK_ATTRIBUTE* templ, CK_ULONG count) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<CK_OBJECT_HANDLE> found;
  for (const auto& [handle, object] : sessionObjects_) {
    if (object.slot == slot && templateMatches([&](CK_ATTRIBUTE_TYPE t) { return sessionAttributeOf(object, t); }, templ, count)) found.push_back(handle);
  }
  return found;
}

KeyInfo Library::key(CK_SLOT_ID slotId, const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = keys_.find({slotId, name});
    if (it != keys_.end()) return it->second.key;
  }
  auto key = fetchKey(slotId, name, -1);
  if (!key) throw ServiceError(200, UNSUPPORTED_KEY, "key " + name + " is of a type this library does not show");
  return *key;
}

std::optional<KeyInfo> Library::fetchKey(CK_SLOT_ID slotId, const std::string& name, double updated) {
  auto key = keyFromBundle(slot(slotId)->service->call("GET", "/keys/" + urlEncode(name)));
  if (!key) return std::nullopt;
  std::lock_guard<std::mutex> lock(mutex_);
  keys_[{slotId, name}] = CachedKey{*key, updated};
  return key;
}

KeyInfo Library::withFacts(CK_SLOT_ID slotId, const KeyInfo& key) {
  if (key.facts) return key;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = keys_.find({slotId, key.name});
    if (it != keys_.end() && it->second.key.kid == key.kid && it->second.key.facts) return it->second.key;
  }
  nlohmann::json bundle = slot(slotId)->service->call("GET", restPath(key) + "/attestation");
  KeyInfo known = key;
  known.facts = factsOfAttestation(bundle);
  if (!known.facts) throw ServiceError(200, "NoAttestation", "key " + key.name + ": the attestation states no private key object");
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = keys_.find({slotId, key.name});
  if (it != keys_.end() && it->second.key.kid == key.kid) it->second.key.facts = known.facts;
  return known;
}

KeyInfo Library::withFactsIfAny(CK_SLOT_ID slotId, const KeyInfo& key) {
  try {
    return withFacts(slotId, key);
  } catch (...) {
    (void)failure("C_GetAttributeValue", "key " + key.name + " (its token attributes, from its attestation)");
    return key;
  }
}

void Library::remember(CK_SLOT_ID slot, const KeyInfo& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  keys_[{slot, key.name}] = CachedKey{key, -1};
}

void Library::forget(CK_SLOT_ID slot, const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  keys_.erase({slot, name});
}

std::vector<KeyInfo> Library::allKeys(CK_SLOT_ID slotId) {
  Slot* s = slot(slotId);
  std::vector<std::pair<std::string, double>> listed;
  std::string path = "/keys?maxresults=25";
  while (!path.empty()) {
    nlohmann::json page = s->service->call("GET", path);
    if (page.contains("value") && page["value"].is_array()) {
      for (const auto& item : page["value"]) {
        std::string name = nameOfKid(item.value("kid", ""));
        double updated = item.contains("attributes") && item["attributes"].is_object() ? item["attributes"].value("updated", 0.0) : 0.0;
        if (!name.empty()) listed.emplace_back(name, updated);
      }
    }
    std::string next = page.contains("nextLink") && page["nextLink"].is_string() ? page["nextLink"].get<std::string>() : "";
    path = pathOfNextLink(next);
  }
  std::vector<KeyInfo> keys;
  for (const auto& [name, updated] : listed) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = keys_.find({slotId, name});
      if (it != keys_.end() && it->second.updated == updated) {
        keys.push_back(it->second.key);
        continue;
      }
    }
    try {
      if (auto key = fetchKey(slotId, name, updated)) keys.push_back(*key);
    } catch (const ServiceError& error) {
      if (error.status != 404) throw;  // deleted between the list and now
    }
  }
  return keys;
}

CK_RV failure(const char* function, const std::string& subject, CK_RV notFound) {
  try {
    throw;
  } catch (const NetworkError& error) {
    logLine(std::string(function) + ": " + subject + ": the HSM cannot be reached: " + error.what());
    return CKR_DEVICE_ERROR;
  } catch (const ServiceError& error) {
    logLine(std::string(function) + ": " + subject + ": the HSM refused (" + std::to_string(error.status) + "): " + error.what());
    if (error.status == 404) return notFound;
    return CKR_FUNCTION_FAILED;
  } catch (const std::bad_alloc&) {
    return CKR_HOST_MEMORY;
  } catch (const std::exception& error) {
    logLine(std::string(function) + ": " + subject + ": " + error.what());
    return CKR_GENERAL_ERROR;
  }
}

}  // namespace mhsm
