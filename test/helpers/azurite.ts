// Azurite's blob service as a child process (never in-process: it is a server the emulator talks to
// over the network, as it would to Azure), over HTTPS with a certificate from the test run's CA, on
// a free port, with its data in a temporary directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { ContainerClient, ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from '@azure/storage-blob';
import { issueTestServerCertificate } from './test-certificate.js';

export const AZURITE_BLOB_BIN = fileURLToPath(new URL('../../node_modules/.bin/azurite-blob', import.meta.url));

/** Azurite's one built-in account and its well-known key (published in Azurite's README; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const START_TIMEOUT_MS = 30_000;

export interface Azurite {
  /** The account's URL, path style: https://127.0.0.1:PORT/devstoreaccount1 (no trailing slash). */
  url: string;
  accountName: typeof AZURITE_ACCOUNT;
  accountKey: string;
  /** A container SAS (no leading `?`) with these permissions (`racwdl` letters), valid for an hour by default. */
  containerSas(container: string, permissions: string, expiresInSeconds?: number): string;
  /** Creates the container (with the account key) and returns its URL. */
  createContainer(name: string): Promise<string>;
  /** Everything Azurite printed so far (it runs with --silent: no access log, which would show SAS tokens). */
  output(): string;
  /** Kills Azurite and removes its data. */
  stop(): Promise<void>;
}

export function azuriteInstalled(): boolean {
  return existsSync(AZURITE_BLOB_BIN);
}

export async function startAzurite(): Promise<Azurite> {
  if (!azuriteInstalled()) throw new Error(`Azurite is not installed (${AZURITE_BLOB_BIN} is missing): run npm ci`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-azurite-'));
  try {
    const { cert, key } = await issueTestServerCertificate(['127.0.0.1', 'localhost']);
    const certPath = path.join(dir, 'cert.pem');
    const keyPath = path.join(dir, 'key.pem');
    writeFileSync(certPath, cert);
    writeFileSync(keyPath, key, { mode: 0o600 });
    const location = path.join(dir, 'data');
    // .bin/azurite-blob is a symlink to a script with a `#!/usr/bin/env node` line: run its target
    // with this Node, so that PATH does not pick another one.
    const child = spawn(
      process.execPath,
      [
        realpathSync(AZURITE_BLOB_BIN),
        '--blobHost', '127.0.0.1',
        // Azurite listens on port 0 as asked and prints the port it got.
        '--blobPort', '0',
        '--location', location,
        '--cert', certPath,
        '--key', keyPath,
        // @azure/storage-blob may send an API version newer than Azurite 3.35 knows.
        '--skipApiVersionCheck',
        // By default Azurite sends telemetry to Microsoft: tests make no outside calls.
        '--disableTelemetry',
        // Its access log prints every request URL, SAS signatures included.
        '--silent',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const url = await listeningUrl(child);
    return azuriteAt(url, child, dir);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

const outputs = new WeakMap<ChildProcess, () => string>();

/** Resolves with the account URL once Azurite says where it listens; rejects if it exits first. */
function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    outputs.set(child, () => output);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Azurite did not listen within ${START_TIMEOUT_MS / 1000} s:\n${output}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /successfully listens on (https:\/\/[\d.]+:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(`${match[1]}/${AZURITE_ACCOUNT}`);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
}

function azuriteAt(url: string, child: ChildProcess, dir: string): Azurite {
  const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY);
  const exited = new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once('exit', () => done());
  });
  // A test worker that ends without stop() (a crash, a timeout) must not leave Azurite running.
  const killOnExit = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  return {
    url,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_ACCOUNT_KEY,
    containerSas(container, permissions, expiresInSeconds = 3600) {
      return generateBlobSASQueryParameters(
        {
          containerName: container,
          permissions: ContainerSASPermissions.parse(permissions),
          // A minute back, so that a clock a little apart from Azurite's does not make it "not yet valid".
          startsOn: new Date(Date.now() - 60_000),
          expiresOn: new Date(Date.now() + expiresInSeconds * 1000),
        },
        credential,
      ).toString();
    },
    async createContainer(name) {
      const container = new ContainerClient(`${url}/${name}`, credential);
      await container.create();
      return container.url;
    },
    output: () => outputs.get(child)?.() ?? '',
    async stop() {
      process.removeListener('exit', killOnExit);
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Azurite's certificate comes from the test run's CA. A test process started after the run's
 * global setup trusts it through NODE_EXTRA_CA_CERTS; one started before it (a worker thread of a
 * long-lived runner) read that variable too early, and is given the same CA here, on top of the
 * default roots. Certificate checks stay on either way.
 */
export async function trustTestCa(url: string): Promise<() => void> {
  const trusted = await new Promise<boolean>((resolve) => {
    httpsGet(url, { agent: false }, (response) => {
      response.resume();
      resolve(true);
    }).on('error', () => resolve(false));
  });
  const caPath = process.env.NODE_EXTRA_CA_CERTS;
  if (trusted || !caPath) return () => undefined;
  const ca = readFileSync(caPath, 'utf8');
  const module = tls as { createSecureContext: typeof tls.createSecureContext };
  const original = module.createSecureContext;
  module.createSecureContext = (options) => {
    const context = original(options);
    if (!options?.ca) context.context.addCACert(ca);
    return context;
  };
  return () => {
    module.createSecureContext = original;
  };
}

