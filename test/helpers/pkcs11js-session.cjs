// For the scripts that look at a token through another binding (pkcs11js): runs `work` with a
// logged-in read-write session on the token MODULE/LABEL/PIN (env), then finalizes the module.
'use strict';
const pkcs11js = require('pkcs11js');

function withUserSession(work) {
  const p = new pkcs11js.PKCS11();
  p.load(process.env.MODULE);
  p.C_Initialize();
  try {
    const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === process.env.LABEL);
    if (slot === undefined) throw new Error(`no token ${process.env.LABEL}`);
    const session = p.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
    p.C_Login(session, pkcs11js.CKU_USER, process.env.PIN);
    try {
      process.stdout.write(JSON.stringify(work(p, session)));
    } finally {
      p.C_CloseSession(session);
    }
  } finally {
    p.C_Finalize();
  }
}

module.exports = { pkcs11js, withUserSession };
