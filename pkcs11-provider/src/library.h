// The library's state between C_Initialize and C_Finalize: the configuration, one slot per HSM,
// the sessions, and the object handles. A handle names (slot, key name, object class) and stays
// the same for the life of the process; what the key is (its public half, key_ops, tags) is kept
// from the last time the service was asked.
#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "config.h"
#include "cryptoki.h"
#include "key-objects.h"
#include "ciphers.h"
#include "mechanisms.h"
#include "service.h"
#include "session-objects.h"

namespace mhsm {

/** ServiceError's code for a key of a type this library does not show. */
constexpr const char* UNSUPPORTED_KEY = "UnsupportedKey";

struct Slot {
  CK_SLOT_ID id;
  SlotConfig config;
  std::unique_ptr<Service> service;
  std::atomic<bool> loggedIn{false};
};

/** A sign or verify operation between its Init and its end: the key as it was at Init. */
struct SignOperation {
  SignMechanism mechanism;
  KeyInfo key;
  Bytes data;
};

/** An encrypt or decrypt operation: the input gathered until its end, and a result too long for
 *  the caller's buffer kept for the call that brings a longer one. */
struct CipherOperation {
  CipherMechanism mechanism;
  KeyInfo key;
  Bytes data;
  std::optional<Bytes> result;
  /** A session object's value, when the key is one: the operation then runs here. */
  std::optional<Bytes> sessionKey;

  CipherOperation() = default;
  CipherOperation(const CipherOperation&) = default;
  CipherOperation& operator=(const CipherOperation&) = default;
  ~CipherOperation();  // zeroes the input and the result: a plaintext either way
};

/** A digest, computed here: the input gathered until the end. */
struct DigestOperation {
  const char* hash;
  Bytes data;
};

struct Session {
  CK_SESSION_HANDLE handle;
  CK_SLOT_ID slot;
  CK_FLAGS flags;
  std::mutex mutex;  // one call at a time on a session, as PKCS#11 asks of the application
  bool finding = false;
  std::vector<CK_OBJECT_HANDLE> found;
  size_t nextFound = 0;
  std::optional<SignOperation> sign;
  std::optional<SignOperation> verify;
  std::optional<CipherOperation> encrypt;
  std::optional<CipherOperation> decrypt;
  std::optional<DigestOperation> digest;
};

struct ObjectRef {
  CK_SLOT_ID slot;
  std::string name;
  CK_OBJECT_CLASS objectClass;
};

class Library {
 public:
  explicit Library(Config config);

  Slot* slot(CK_SLOT_ID id);
  const std::vector<std::unique_ptr<Slot>>& slots() const { return slots_; }

  std::shared_ptr<Session> openSession(CK_SLOT_ID slot, CK_FLAGS flags);
  std::shared_ptr<Session> session(CK_SESSION_HANDLE handle);
  bool closeSession(CK_SESSION_HANDLE handle);
  void closeAllSessions(CK_SLOT_ID slot);
  size_t sessionCount(CK_SLOT_ID slot);

  CK_OBJECT_HANDLE handleFor(CK_SLOT_ID slot, const std::string& name, CK_OBJECT_CLASS objectClass);
  std::optional<ObjectRef> object(CK_OBJECT_HANDLE handle);

  /**
   * A public key object destroyed on its own: over REST the public key goes with its private key,
   * so this process stops showing it, and the key goes when its private key object does.
   */
  void hidePublic(CK_SLOT_ID slot, const std::string& name, bool hidden);
  bool publicHidden(CK_SLOT_ID slot, const std::string& name);

  /** Session objects: made by a session, gone with it (and zeroed). */
  CK_OBJECT_HANDLE addSessionObject(SessionObject object);
  std::optional<SessionObject> sessionObject(CK_OBJECT_HANDLE handle);
  bool destroySessionObject(CK_OBJECT_HANDLE handle);
  std::vector<CK_OBJECT_HANDLE> sessionObjectsMatching(CK_SLOT_ID slot, const CK_ATTRIBUTE* templ, CK_ULONG count);

  /** The key as last seen; fetched from the service when never seen. Throws ServiceError, NetworkError. */
  KeyInfo key(CK_SLOT_ID slot, const std::string& name);
  /** The key with what its token object states (its attestation), fetched once per key version. */
  KeyInfo withFacts(CK_SLOT_ID slot, const KeyInfo& key);
  /** The same, or the key as it is (those attributes then unavailable) when no attestation can be had; logged. */
  KeyInfo withFactsIfAny(CK_SLOT_ID slot, const KeyInfo& key);
  void remember(CK_SLOT_ID slot, const KeyInfo& key);
  void forget(CK_SLOT_ID slot, const std::string& name);
  /** Every key of the HSM, fetched now (the list, then each key not seen at its current update). */
  std::vector<KeyInfo> allKeys(CK_SLOT_ID slot);

 private:
  std::mutex mutex_;
  Config config_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::map<CK_SESSION_HANDLE, std::shared_ptr<Session>> sessions_;
  CK_SESSION_HANDLE nextSession_ = 1;
  std::map<std::tuple<CK_SLOT_ID, std::string, CK_OBJECT_CLASS>, CK_OBJECT_HANDLE> handles_;
  std::map<CK_OBJECT_HANDLE, ObjectRef> objects_;
  std::map<CK_OBJECT_HANDLE, SessionObject> sessionObjects_;
  std::set<std::pair<CK_SLOT_ID, std::string>> hiddenPublic_;
  void dropSessionObjectsOf(CK_SESSION_HANDLE owner);
  /** GET /keys/NAME, kept with the list's `updated` (-1: not from a list); nullopt for a key type not shown. */
  std::optional<KeyInfo> fetchKey(CK_SLOT_ID slot, const std::string& name, double updated);
  CK_OBJECT_HANDLE nextObject_ = 1;
  struct CachedKey {
    KeyInfo key;
    double updated;
  };
  std::map<std::pair<CK_SLOT_ID, std::string>, CachedKey> keys_;
};

/** The library while initialized; nullptr otherwise. */
Library* library();
CK_RV initializeLibrary();
void finalizeLibrary();

/**
 * The CKR_* for a failure the service or the network reported, logged with its reason. A key the
 * service no longer has is `notFound`: the handle's code at an Init, CKR_FUNCTION_FAILED after it
 * (the codes C_Sign, C_Decrypt and the like may return have no handle among them).
 */
CK_RV failure(const char* function, const std::string& subject, CK_RV notFound = CKR_FUNCTION_FAILED);

}  // namespace mhsm
