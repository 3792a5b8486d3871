"""Keys and local RBAC through the Python azure-keyvault-* clients and azure-identity, as a user
would drive them.

Reads MHSM_URL, MHSM_ADMIN (path of admin.json) and MHSM_PRINCIPAL_ID from the environment; the
CA is trusted through REQUESTS_CA_BUNDLE. Exits non-zero on the first failed check.
"""
import hashlib
import json
import os
import uuid

from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.identity import __version__ as identity_version
from azure.keyvault.administration import (
    KeyVaultAccessControlClient,
    KeyVaultDataAction,
    KeyVaultPermission,
    KeyVaultRoleScope,
)
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

url = os.environ["MHSM_URL"]
with open(os.environ["MHSM_ADMIN"], encoding="utf-8") as f:
    admin = json.load(f)
principal_id = os.environ["MHSM_PRINCIPAL_ID"]

# Instance discovery would go to login.microsoftonline.com. The 1.13 betas (Debian's package) call
# the switch instance_discovery; releases since call it disable_instance_discovery.
no_discovery = {"instance_discovery": False} if identity_version.startswith("1.13.0b") else {"disable_instance_discovery": True}
credential = ClientSecretCredential(admin["tenantId"], admin["clientId"], admin["clientSecret"], authority=url, **no_discovery)

# Keys through the Python keys client, to begin with.
keys = KeyClient(url, credential, verify_challenge_resource=False)
key = keys.create_ec_key("python-key", curve="P-256", hardware_protected=True)
assert key.key_type == "EC-HSM", key.key_type
digest = hashlib.sha256(b"signed from Python").digest()
crypto = CryptographyClient(key, credential, verify_challenge_resource=False)
signature = crypto.sign(SignatureAlgorithm.es256, digest).signature
assert len(signature) == 64
assert crypto.verify(SignatureAlgorithm.es256, digest, signature).is_valid
assert "python-key" in [k.name for k in keys.list_properties_of_keys()]

client = KeyVaultAccessControlClient(url, credential, verify_challenge_resource=False)

definitions = list(client.list_role_definitions(KeyVaultRoleScope.GLOBAL))
built_in = {d.role_name: d for d in definitions if d.role_type == "AKVBuiltInRole"}
assert len(built_in) == 9, sorted(built_in)
crypto_user = built_in["Managed HSM Crypto User"]
assert crypto_user.name == "21dbd100-6940-42c2-9190-5d6cb909625b"
assert KeyVaultDataAction.SIGN_HSM_KEY in crypto_user.permissions[0].data_actions

name = str(uuid.uuid4())
custom = client.set_role_definition(
    KeyVaultRoleScope.GLOBAL,
    name=name,
    role_name="signer",
    description="signs only",
    permissions=[KeyVaultPermission(data_actions=[KeyVaultDataAction.SIGN_HSM_KEY, KeyVaultDataAction.READ_HSM_KEY])],
)
assert custom.name == name and custom.role_type == "CustomRole" and custom.role_name == "signer"
assert client.get_role_definition(KeyVaultRoleScope.GLOBAL, name).description == "signs only"

assignment = client.create_role_assignment(KeyVaultRoleScope.KEYS, custom.id, principal_id, name=str(uuid.uuid4()))
assert assignment.properties.scope == "/keys", assignment.properties.scope
assert assignment.properties.role_definition_id == custom.id
assert assignment.properties.principal_id == principal_id
fetched = client.get_role_assignment(KeyVaultRoleScope.KEYS, assignment.name)
assert fetched.role_assignment_id == assignment.role_assignment_id
listed = [a.name for a in client.list_role_assignments(KeyVaultRoleScope.KEYS)]
assert assignment.name in listed, listed

try:
    client.set_role_definition(KeyVaultRoleScope.GLOBAL, name=crypto_user.name, permissions=[])
    raise AssertionError("a built-in role was overwritten")
except HttpResponseError as error:
    assert error.status_code == 400, error.status_code

client.delete_role_assignment(KeyVaultRoleScope.KEYS, assignment.name)
client.delete_role_definition(KeyVaultRoleScope.GLOBAL, name)
# The client swallows the 404 of deleting what is gone, as with the real service.
client.delete_role_assignment(KeyVaultRoleScope.KEYS, assignment.name)
assert name not in [d.name for d in client.list_role_definitions(KeyVaultRoleScope.GLOBAL)]
print("python access control: ok")
