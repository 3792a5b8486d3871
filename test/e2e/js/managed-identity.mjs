// An application as it is written for Azure: DefaultAzureCredential (and a user-assigned
// ManagedIdentityCredential), nothing emulator-specific but the environment: IDENTITY_ENDPOINT,
// IDENTITY_HEADER and NODE_EXTRA_CA_CERTS, as `mhsm env` prints them. Prints one JSON line.
import { createHash } from 'node:crypto';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';

const url = process.env.MHSM_URL;
const options = { disableChallengeResourceVerification: true };
const result = {};
const keys = new KeyClient(url, new DefaultAzureCredential(), options);
const key = await keys.getKey('mi-key');
const digest = createHash('sha256').update('signed by a managed identity').digest();
const crypto = new CryptographyClient(key, new DefaultAzureCredential(), options);
const signed = await crypto.sign('ES256', digest);
result.signatureLength = signed.result.length;
result.verified = (await crypto.verify('ES256', digest, signed.result)).result;
try {
  await new KeyClient(url, new ManagedIdentityCredential({ clientId: process.env.MHSM_OTHER_CLIENT_ID }), options).getKey('mi-key');
  result.other = 'allowed';
} catch (error) {
  result.other = error.statusCode ?? error.message;
}
console.log(JSON.stringify(result));
