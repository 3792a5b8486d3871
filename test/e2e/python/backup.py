"""Full backup, full restore and selective key restore through the official Python
KeyVaultBackupClient (azure-keyvault-administration), against the emulator and Azurite.

Reads MHSM_URL, MHSM_ADMIN (path of admin.json), MHSM_CONTAINER (the container URL) and MHSM_SAS
from the environment; the CA is trusted through REQUESTS_CA_BUNDLE. Exits non-zero on the first
failed check.
"""
import json
import os

from azure.identity import ClientSecretCredential
from azure.identity import __version__ as identity_version
from azure.keyvault.administration import KeyVaultBackupClient

url = os.environ["MHSM_URL"]
with open(os.environ["MHSM_ADMIN"], encoding="utf-8") as f:
    admin = json.load(f)
container = os.environ["MHSM_CONTAINER"]
sas = os.environ["MHSM_SAS"]

no_discovery = {"instance_discovery": False} if identity_version.startswith("1.13.0b") else {"disable_instance_discovery": True}
credential = ClientSecretCredential(admin["tenantId"], admin["clientId"], admin["clientSecret"], authority=url, **no_discovery)
client = KeyVaultBackupClient(url, credential, verify_challenge_resource=False)

backup = client.begin_backup(container, sas).result()
folder_url = backup.folder_url
assert folder_url.startswith(container + "/mhsm-"), folder_url

client.begin_restore(folder_url, sas).wait()
client.begin_restore(folder_url, sas, key_name="rsa").wait()
print("python backup client: ok", folder_url)
