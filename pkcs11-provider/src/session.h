// What the C_* functions do once their arguments are checked: finding objects, signing and
// verifying, generating keys, random bytes, destroying. Each takes the library's state and
// returns a CKR_*; a failure of the service is logged with its reason (library.h, failure()).
#pragma once
#include "library.h"

namespace mhsm {

/**
 * The HSM key behind a handle: an object of class `wanted` (or a secret key, if `secretToo`) whose
 * key_ops include `op`. A session object here is CKR_KEY_TYPE_INCONSISTENT: it is no HSM key.
 */
CK_RV hsmKeyFor(Library& lib, Session& session, CK_OBJECT_HANDLE handle, CK_OBJECT_CLASS wanted, bool secretToo, const char* op, KeyInfo& out, const char* function);

CK_RV findObjectsInit(Library& lib, Session& session, const CK_ATTRIBUTE* templ, CK_ULONG count);

CK_RV signInit(Library& lib, Session& session, const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE key);
/** One-part or final sign: the signature's length when `out` is null; CKR_BUFFER_TOO_SMALL keeps the operation. */
CK_RV signFinish(Library& lib, Session& session, CK_BYTE_PTR out, CK_ULONG_PTR outLength);
CK_RV verifyInit(Library& lib, Session& session, const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE key);
CK_RV verifyFinish(Session& session, const Bytes& signature);

CK_RV cipherInit(Library& lib, Session& session, const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE key, bool encrypt);
/** One-part or final encrypt or decrypt, with the same length rules as signFinish. */
CK_RV cipherFinish(Library& lib, Session& session, bool encrypt, CK_BYTE_PTR out, CK_ULONG_PTR outLength);

CK_RV generateKeyPair(Library& lib, Session& session, const CK_MECHANISM* mechanism, const CK_ATTRIBUTE* publicTemplate, CK_ULONG publicCount,
                      const CK_ATTRIBUTE* privateTemplate, CK_ULONG privateCount, CK_OBJECT_HANDLE_PTR publicKey, CK_OBJECT_HANDLE_PTR privateKey);
CK_RV generateKey(Library& lib, Session& session, const CK_MECHANISM* mechanism, const CK_ATTRIBUTE* templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR key);

CK_RV createObject(Library& lib, Session& session, const CK_ATTRIBUTE* templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR object);
CK_RV wrapKey(Library& lib, Session& session, const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR outLength);
CK_RV unwrapKey(Library& lib, Session& session, const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE unwrapping, const Bytes& wrapped, const CK_ATTRIBUTE* templ, CK_ULONG count,
                CK_OBJECT_HANDLE_PTR object);

/** Digests run here (OpenSSL): nothing secret goes in, and the REST API has no digest. */
CK_RV digestInit(Session& session, const CK_MECHANISM* mechanism);
CK_RV digestFinish(Session& session, CK_BYTE_PTR out, CK_ULONG_PTR outLength);

CK_RV generateRandom(Library& lib, Session& session, CK_BYTE_PTR out, CK_ULONG length);
CK_RV destroyObject(Library& lib, Session& session, CK_OBJECT_HANDLE object);
CK_RV getAttributeValue(Library& lib, Session& session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_PTR templ, CK_ULONG count);

}  // namespace mhsm
