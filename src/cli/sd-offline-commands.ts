// `mhsm sd keys` and `mhsm sd restore-blob`: the offline half of the security domain, run by the
// holders of the wrapping keys without any emulator, as `openssl req` and
// `az keyvault security-domain restore-blob` are with the real service.
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ceremonyKeyPair } from '../hsm/security-domain/certificates.js';
import { buildRestoreBlob, parseSecurityDomainFile } from '../hsm/security-domain/sd-file.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function readInput(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`${what}: ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

function writeSecret(file: string, content: string | Buffer, exclusive: boolean): void {
  try {
    writeFileSync(file, content, { mode: 0o600, flag: exclusive ? 'wx' : 'w' });
    chmodSync(file, 0o600); // an existing file keeps its old mode otherwise
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`${file} cannot be written (${code ?? (error as Error).message})`);
  }
}

/** PEM or DER; the certificate as DER. */
function readCertificate(file: string, what: string): Buffer {
  const bytes = readInput(file, what);
  try {
    return Buffer.from(new X509Certificate(bytes).raw);
  } catch {
    throw new Error(`${what}: ${file} is not an X.509 certificate (PEM or DER)`);
  }
}

function readPrivateKey(file: string): KeyObject {
  const pem = readInput(file, '--key');
  try {
    return createPrivateKey(pem);
  } catch {
    throw new Error(`--key: ${file} is not an unencrypted PEM private key`);
  } finally {
    pem.fill(0);
  }
}

/** Where az looks for a key's certificate: the key's path with its extension replaced by .cer. */
function certificatePathOf(keyPath: string): string {
  const { dir, name } = path.parse(keyPath);
  return path.join(dir, `${name}.cer`);
}

function parseCount(value: string): number {
  const count = Number(value);
  if (!/^\d+$/.test(value) || count < 3 || count > 10) throw new Error(`--count: must be an integer from 3 to 10, got ${value}`);
  return count;
}

export function addOfflineSecurityDomainCommands(sd: Command): void {
  sd.command('keys')
    .description('make N RSA-2048 wrapping keys with self-signed certificates for a security-domain download (no server needed)')
    .option('--count <n>', 'how many key pairs, 3 to 10', '3')
    .requiredOption('--out <dir>', 'directory for sd-key-I.pem (private key, 0600) and sd-key-I.cer (certificate)')
    .action(async (flags: { count: string; out: string }) => {
      const count = parseCount(flags.count);
      const keyPaths = Array.from({ length: count }, (_, i) => path.join(flags.out, `sd-key-${i + 1}.pem`));
      // Checked before the slow part, so that no key is made, or half a set written, over old keys.
      for (const file of keyPaths.flatMap((keyPath) => [keyPath, certificatePathOf(keyPath)])) {
        if (existsSync(file)) throw new Error(`--out: ${file} already exists; not overwriting a key`);
      }
      mkdirSync(flags.out, { recursive: true, mode: 0o700 });
      const pairs = await Promise.all(Array.from({ length: count }, (_, i) => ceremonyKeyPair(`mhsm security domain key ${i + 1}`)));
      pairs.forEach((pair, i) => {
        const keyPath = keyPaths[i] as string;
        writeSecret(keyPath, pair.privateKeyPem, true);
        writeFileSync(certificatePathOf(keyPath), pair.certificatePem, { flag: 'wx' });
        console.log(`wrote ${keyPath} (private key, 0600) and ${certificatePathOf(keyPath)} (certificate, x5t#S256 ${pair.jwk['x5t#S256']})`);
      });
      console.log(`Download the security domain with the ${count} .cer files; keep each .pem with its holder, offline.`);
    });

  sd.command('restore-blob')
    .description('decrypt a security-domain file with a quorum of wrapping keys and re-encrypt it to a transfer key (no server needed)')
    .requiredOption('--sd-file <file>', 'the security-domain file the download returned')
    .requiredOption('--key <pem>', 'a wrapping private key; its certificate is the same path with .cer (repeatable)', collect)
    .option('--cert <file>', 'the certificate of the --key in the same position, instead of KEY.cer (repeatable)', collect)
    .requiredOption('--transfer-key <cert>', "the new HSM's transfer-key certificate (PEM)")
    .requiredOption('--out <file>', 'where to write the restore blob (0600)')
    .action((flags: { sdFile: string; key: string[]; cert?: string[]; transferKey: string; out: string }) => {
      const certs = flags.cert ?? [];
      if (certs.length > flags.key.length) throw new Error(`--cert: ${certs.length} given for ${flags.key.length} --key; each --cert belongs to the --key in the same position`);
      const file = parseSecurityDomainFile(readInput(flags.sdFile, '--sd-file').toString('utf8'));
      const transferCertificateDer = readCertificate(flags.transferKey, '--transfer-key');
      const privateKeys = flags.key.map((keyPath, i) => ({
        certificateDer: readCertificate(certs[i] ?? certificatePathOf(keyPath), certs[i] ? '--cert' : `certificate of --key ${keyPath}`),
        privateKey: readPrivateKey(keyPath),
      }));
      writeSecret(flags.out, buildRestoreBlob({ file, privateKeys, transferCertificateDer }), false);
      console.log(`wrote ${flags.out}: ${file.EncData.data.length} items re-encrypted to the transfer key; upload it to the new HSM`);
    });
}
