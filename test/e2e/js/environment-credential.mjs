// EnvironmentCredential, unmodified, from AZURE_AUTHORITY_HOST, AZURE_TENANT_ID (adfs),
// AZURE_CLIENT_ID and AZURE_CLIENT_SECRET as `mhsm env --admin` prints them. Prints the key's type.
import { EnvironmentCredential } from '@azure/identity';
import { KeyClient } from '@azure/keyvault-keys';

const keys = new KeyClient(process.env.MHSM_URL, new EnvironmentCredential(), { disableChallengeResourceVerification: true });
const key = await keys.createEcKey('from-environment', { curve: 'P-256', hsm: true });
console.log(key.keyType);
