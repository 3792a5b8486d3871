// Counts a token's objects through another binding (pkcs11js), in a process of its own: every
// token object a logged-in user can see, by class and label.
// Input (env): MODULE, LABEL, PIN. Output (stdout): JSON { "<class>:<label>": count }.
'use strict';
const { pkcs11js, withUserSession } = require('./pkcs11js-session.cjs');

withUserSession((p, session) => {
  p.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_TOKEN, value: true }]);
  const handles = p.C_FindObjects(session, 1_000_000);
  p.C_FindObjectsFinal(session);
  const counts = {};
  for (const handle of handles) {
    const [objectClass, label] = p.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_CLASS }, { type: pkcs11js.CKA_LABEL }]);
    const key = `${objectClass.value.readUInt32LE(0)}:${label.value.toString()}`;
    counts[key] = (counts[key] || 0) + 1;
  }
  return counts;
});
