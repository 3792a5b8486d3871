// An independent look at keys through another binding (pkcs11js), in a process of its own:
// reads each key's protection attributes and tries to get its secret out two ways.
// Input (env): MODULE, LABEL, PIN, KEYS = JSON [{ id: hex, class: number, secretAttribute: number,
// names?: [CKA_* names to read instead of the default protection attributes] }].
// Output (stdout): JSON [{ id, attributes: {...}, readSecret: CKR name | 'read', wrap: CKR name | 'wrapped' }].
'use strict';
const { pkcs11js, withUserSession } = require('./pkcs11js-session.cjs');

function codeOf(error) {
  const match = /^(CKR_[A-Z_]+)/.exec(error.message || '');
  return match ? match[1] : error.message;
}

withUserSession((p, session) => {
  const kek = p.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_WRAP, value: true },
  ]);
  const defaultNames = ['CKA_TOKEN', 'CKA_PRIVATE', 'CKA_SENSITIVE', 'CKA_EXTRACTABLE', 'CKA_ALWAYS_SENSITIVE', 'CKA_NEVER_EXTRACTABLE'];
  const results = JSON.parse(process.env.KEYS).map((key) => {
    p.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: key.class },
      { type: pkcs11js.CKA_ID, value: Buffer.from(key.id, 'hex') },
    ]);
    const handles = p.C_FindObjects(session, 10);
    p.C_FindObjectsFinal(session);
    if (handles.length !== 1) return { id: key.id, found: handles.length };
    const handle = handles[0];
    const attributes = {};
    for (const name of key.names || defaultNames) {
      const [attribute] = p.C_GetAttributeValue(session, handle, [{ type: pkcs11js[name] }]);
      attributes[name] = attribute.value[0] === 1;
    }
    let readSecret;
    try {
      p.C_GetAttributeValue(session, handle, [{ type: key.secretAttribute }]);
      readSecret = 'read';
    } catch (error) {
      readSecret = codeOf(error);
    }
    let wrap;
    try {
      p.C_WrapKey(session, { mechanism: 0x210a, parameter: null }, kek, handle, Buffer.alloc(8192));
      wrap = 'wrapped';
    } catch (error) {
      wrap = codeOf(error);
    }
    return { id: key.id, found: 1, attributes, readSecret, wrap };
  });
  return results;
});
