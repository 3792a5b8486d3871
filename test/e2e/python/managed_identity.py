"""An application as written for Azure: ManagedIdentityCredential (system- and user-assigned),
with IDENTITY_ENDPOINT, IDENTITY_HEADER and REQUESTS_CA_BUNDLE from the environment, as
`mhsm env` prints them. Prints one JSON line."""
import hashlib
import json
import os

from azure.core.exceptions import HttpResponseError
from azure.identity import ManagedIdentityCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

url = os.environ["MHSM_URL"]
credential = ManagedIdentityCredential()
key = KeyClient(url, credential, verify_challenge_resource=False).get_key("mi-key")
digest = hashlib.sha256(b"signed by a managed identity").digest()
crypto = CryptographyClient(key, credential, verify_challenge_resource=False)
signature = crypto.sign(SignatureAlgorithm.es256, digest).signature
result = {"signatureLength": len(signature), "verified": crypto.verify(SignatureAlgorithm.es256, digest, signature).is_valid}
other = ManagedIdentityCredential(client_id=os.environ["MHSM_OTHER_CLIENT_ID"])
try:
    KeyClient(url, other, verify_challenge_resource=False).get_key("mi-key")
    result["other"] = "allowed"
except HttpResponseError as error:
    result["other"] = error.status_code
print(json.dumps(result))
