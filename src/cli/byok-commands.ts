// `mhsm byok …`: bring your own key. `kek` fetches (or makes) a key-exchange key of the running
// emulator as PEM; `export` plays the customer's on-premises HSM, as a vendor's BYOK tool does:
// it wraps a key of any PKCS#11 token (the source) for that KEK, inside the source token, and
// writes the .byok transfer blob that `mhsm key import --byok` (or any SDK) then imports.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { exportForImport } from '../hsm/byok/byok-export.js';
import { isKeyEncryptionAlgorithm, KEY_ENCRYPTION_ALGORITHMS, type KeyEncryptionAlgorithm } from '../hsm/byok/transfer-blob.js';
import { isKeyExchangeKeyOps, kekReference } from '../hsm/byok/key-exchange-key.js';
import { ktyOfSpec } from '../hsm/jwk.js';
import { Token } from '../token/token.js';
import { type ClientCommandFlags, addClientOptions, clientFor } from './client-options.js';
import { ConfigError } from './config.js';

interface KeyBundle {
  key: { kid: string; kty: string; key_ops: string[]; n?: string; e?: string };
}

type KekFlags = ClientCommandFlags & { name: string; version?: string; out?: string; create?: boolean; size?: string };
type ExportFlags = ClientCommandFlags & {
  module: string;
  tokenLabel: string;
  pin?: string;
  pinFile?: string;
  keyLabel: string;
  kek?: string;
  kekKid: string;
  enc: string;
  out: string;
};

function publicKeyOf(bundle: KeyBundle): KeyObject {
  const { n, e, key_ops: ops, kid } = bundle.key;
  if (!n || !e || !isKeyExchangeKeyOps(ops)) {
    throw new ConfigError(`${kid} is not a key-exchange key: it must be RSA-HSM with key_ops exactly ["import"]`);
  }
  return createPublicKey({ key: { kty: 'RSA', n, e }, format: 'jwk' });
}

function pinOf(flags: ExportFlags): string {
  if (flags.pinFile) return readFileSync(flags.pinFile, 'utf8').trim();
  const pin = flags.pin ?? process.env.MHSM_SOURCE_PIN;
  if (!pin) throw new ConfigError('give the source token user PIN: --pin, --pin-file or MHSM_SOURCE_PIN');
  return pin;
}

export function addByokCommands(program: Command): void {
  const byok = program.command('byok').description('bring your own key: key-exchange keys, and transfer blobs from another HSM');

  addClientOptions(byok.command('kek'))
    .description("write a key-exchange key's public key as PEM (--create makes the KEK first) and print its kid")
    .requiredOption('--name <name>', 'the key-exchange key')
    .option('--version <version>', 'a version (default: the newest)')
    .option('--create', 'create it first: RSA-HSM with key_ops ["import"]')
    .option('--size <bits>', 'with --create: 2048, 3072 or 4096', '2048')
    .option('--out <file>', 'the PEM file (default: standard output)')
    .action(async (flags: KekFlags) => {
      const client = clientFor(flags);
      const name = encodeURIComponent(flags.name);
      const bundle = flags.create
        ? await client.call<KeyBundle>('POST', `/keys/${name}/create`, { kty: 'RSA-HSM', key_size: Number(flags.size), key_ops: ['import'] })
        : await client.call<KeyBundle>('GET', `/keys/${name}${flags.version ? `/${encodeURIComponent(flags.version)}` : ''}`);
      const pem = publicKeyOf(bundle).export({ format: 'pem', type: 'spki' }) as string;
      if (flags.out) writeFileSync(flags.out, pem);
      else process.stdout.write(pem);
      if (flags.json) console.error(JSON.stringify({ kid: bundle.key.kid }));
      else console.error(`kid: ${bundle.key.kid}`);
    });

  addClientOptions(byok.command('export'))
    .description('wrap a key of another PKCS#11 token (the source HSM) for a KEK, inside that token, and write the .byok transfer blob')
    .requiredOption('--module <path>', "the source token's PKCS#11 module")
    .requiredOption('--token-label <label>', 'the source token')
    .option('--pin <pin>', 'its user PIN (MHSM_SOURCE_PIN; prefer the variable or --pin-file: flags show in ps)')
    .option('--pin-file <file>', 'a file holding the user PIN')
    .requiredOption('--key-label <label>', 'CKA_LABEL of the key to export (extractable in the source token)')
    .requiredOption('--kek-kid <kid>', "the key-exchange key's kid (https://{hsm}/keys/{name}/{version})")
    .option('--kek <file>', "the KEK's public key as PEM (default: fetched from the running emulator)")
    .option('--enc <algorithm>', `${Object.keys(KEY_ENCRYPTION_ALGORITHMS).join(', ')}`, 'CKM_RSA_AES_KEY_WRAP')
    .requiredOption('--out <file>', 'the .byok file to write')
    .action(async (flags: ExportFlags) => {
      if (!isKeyEncryptionAlgorithm(flags.enc)) throw new ConfigError(`--enc must be one of ${Object.keys(KEY_ENCRYPTION_ALGORITHMS).join(', ')}`);
      let publicKey: KeyObject;
      if (flags.kek) {
        publicKey = createPublicKey(readFileSync(flags.kek));
      } else {
        const { name, version } = kekReference(flags.kekKid);
        const route = `/keys/${encodeURIComponent(name)}${version ? `/${encodeURIComponent(version)}` : ''}`;
        publicKey = publicKeyOf(await clientFor(flags).call<KeyBundle>('GET', route));
      }
      const source = await Token.open({ modulePath: flags.module, label: flags.tokenLabel, pin: pinOf(flags) });
      try {
        const target = await source.keyLabelled(flags.keyLabel);
        const blob = await exportForImport(source, target, { kid: flags.kekKid, publicKey }, flags.enc as KeyEncryptionAlgorithm);
        writeFileSync(flags.out, blob, { mode: 0o600 });
        console.error(`wrote ${flags.out}: ${ktyOfSpec(target.spec)} key '${flags.keyLabel}' for ${flags.kekKid} (${flags.enc})`);
      } finally {
        source.close();
      }
    });
}
