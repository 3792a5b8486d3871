// `mhsm sd`: the security domain. download, transfer-key, upload and status talk to the running
// emulator; keys and restore-blob run offline, like the Azure CLI's (sd-offline-commands.ts).
import { X509Certificate } from 'node:crypto';
import { accessSync, chmodSync, constants, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { domainJwk, pem } from '../hsm/security-domain/certificates.js';
import { type ClientCommandFlags, addClientOptions, clientFor, output } from './client-options.js';
import type { RestClient } from './rest-client.js';
import { addOfflineSecurityDomainCommands } from './sd-offline-commands.js';

interface OperationStatus {
  status: string;
  status_details: string;
}

const POLL_MS = 250;
const POLL_LIMIT_MS = 120_000;

function writePrivate(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Polls a pending endpoint until it reports Success (or Failed), with progress on a terminal. */
async function waitFor(client: RestClient, route: string, what: string): Promise<OperationStatus> {
  const started = Date.now();
  for (;;) {
    const status = await client.call<OperationStatus>('GET', route);
    if (/^succe/i.test(status.status)) {
      if (process.stderr.isTTY) process.stderr.write('\n');
      return status;
    }
    if (/^failed|^canceled/i.test(status.status)) throw new Error(`${what} failed: ${status.status_details}`);
    if (Date.now() - started > POLL_LIMIT_MS) throw new Error(`${what} still ${status.status} after ${POLL_LIMIT_MS / 1000} s`);
    if (process.stderr.isTTY) process.stderr.write(`\r${what}: ${status.status} (${Math.round((Date.now() - started) / 1000)} s)`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A file a flag names, read or refused with one line that names the flag. */
function readFlagFile(flag: string, file: string): Buffer {
  try {
    if (statSync(file).isDirectory()) throw new Error('it is a directory');
    return readFileSync(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new Error(`${flag}: cannot read ${file} (${reason})`);
  }
}

/** Checked before anything is asked of the server: a download activates the HSM, and its file must not be lost. */
function checkWritable(flag: string, file: string): void {
  const dir = path.dirname(path.resolve(file));
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new Error(`${flag}: cannot write ${file}: ${existsSync(dir) ? 'the folder is not writable' : `no folder ${dir}`}`);
  }
  if (existsSync(file) && statSync(file).isDirectory()) throw new Error(`${flag}: ${file} is a directory`);
}

function certificateJwk(file: string) {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(readFlagFile('--cert', file));
  } catch (error) {
    if ((error as Error).message.startsWith('--cert')) throw error;
    throw new Error(`--cert: ${file} is not a PEM or DER certificate (a ceremony key's .cer file, not its .pem private key)`);
  }
  return domainJwk(Buffer.from(certificate.raw), certificate.subject.replace(/\n/g, ', '));
}

export function addSecurityDomainCommands(program: Command): void {
  const sd = program.command('sd').description('the security domain: activation, download, recovery into a new HSM');

  addClientOptions(
    sd
      .command('download')
      .description('download the security domain (activating the HSM if it is not yet active)')
      .requiredOption('--cert <file>', 'a PEM certificate of an RSA key (3 to 10 of them; repeatable)', collect)
      .requiredOption('--quorum <n>', 'how many of the keys recover the domain (2 to the number of certificates)')
      .requiredOption('--out <file>', 'where to write the security-domain file'),
  ).action(async (flags: ClientCommandFlags & { cert: string[]; quorum: string; out: string }) => {
    if (flags.cert.length < 3 || flags.cert.length > 10) throw new Error(`--cert: give 3 to 10 certificates, not ${flags.cert.length}`);
    const quorum = Number(flags.quorum);
    if (!/^\d+$/.test(flags.quorum) || quorum < 2 || quorum > flags.cert.length) {
      throw new Error(`--quorum: must be a whole number from 2 to the number of certificates (${flags.cert.length}), not '${flags.quorum}'`);
    }
    checkWritable('--out', flags.out);
    const certificates = flags.cert.map(certificateJwk);
    const client = clientFor(flags);
    const { value } = await client.call<{ value: string }>('POST', '/securitydomain/download', { certificates, required: quorum });
    await waitFor(client, '/securitydomain/download/pending', 'download');
    writePrivate(flags.out, value);
    output(flags, { file: flags.out, certificates: certificates.length, quorum: Number(flags.quorum) }, (r) => [
      `wrote ${r.file}: the security domain, recoverable with ${r.quorum} of the ${r.certificates} keys`,
    ]);
  });

  addClientOptions(
    sd
      .command('transfer-key')
      .description("get the HSM's transfer key (for a recovery: the restore blob is made for it)")
      .requiredOption('--out <file>', 'where to write the transfer-key certificate (PEM)'),
  ).action(async (flags: ClientCommandFlags & { out: string }) => {
    checkWritable('--out', flags.out);
    const answer = await clientFor(flags).call<{ transfer_key: string }>('GET', '/securitydomain/upload');
    const jwk = JSON.parse(answer.transfer_key) as { x5c: string[]; 'x5t#S256': string };
    writeFileSync(flags.out, pem('CERTIFICATE', Buffer.from(jwk.x5c[0] as string, 'base64')));
    output(flags, { file: flags.out, x5t256: jwk['x5t#S256'] }, (r) => [`wrote ${r.file}: the transfer key's certificate (x5t#S256 ${r.x5t256})`]);
  });

  addClientOptions(
    sd
      .command('upload')
      .description('upload a restore blob: the HSM takes the security domain and is activated')
      .requiredOption('--blob <file>', 'the restore blob (mhsm sd restore-blob or az keyvault security-domain restore-blob)'),
  ).action(async (flags: ClientCommandFlags & { blob: string }) => {
    const blob = readFlagFile('--blob', flags.blob).toString('utf8');
    const client = clientFor(flags);
    await client.call('POST', '/securitydomain/upload', { value: blob });
    const status = await waitFor(client, '/securitydomain/upload/pending', 'upload');
    output(flags, status, (s) => [`upload: ${s.status}: ${s.status_details}`]);
  });

  addClientOptions(sd.command('status').description('activation and the last download and upload')).action(async (flags: ClientCommandFlags) => {
    const client = clientFor(flags);
    const [download, upload, emulator] = await Promise.all([
      client.call<OperationStatus>('GET', '/securitydomain/download/pending'),
      client.call<OperationStatus>('GET', '/securitydomain/upload/pending'),
      client.call<{ activation: { state: string; securityDomain: string; downloadable: boolean } }>('GET', '/emulator/status'),
    ]);
    output(flags, { activation: emulator.activation, download, upload }, (s) => [
      s.activation.state === 'Active'
        ? `activation: Active (security domain: ${s.activation.securityDomain}${s.activation.downloadable ? '' : ', not downloadable'})`
        : 'activation: NotActivated (download the security domain with mhsm sd download, or upload one with mhsm sd upload)',
      `download:   ${s.download.status}: ${s.download.status_details}`,
      `upload:     ${s.upload.status}: ${s.upload.status_details}`,
    ]);
  });

  addOfflineSecurityDomainCommands(sd);
}
