// The embedded default token: SoftHSM2 with its own configuration and token directory under
// the data directory, initialised on first use with random PINs kept in a 0600 file.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CKF, CKU } from './constants.js';
import { TokenError } from './errors.js';
import { acquireModule, releaseModule } from './module-registry.js';

/** Where distributions put libsofthsm2: Debian/Ubuntu, Fedora/RHEL, Homebrew, /usr/local. */
export const SOFTHSM_MODULE_CANDIDATES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib64/pkcs11/libsofthsm2.so',
  '/usr/lib64/softhsm/libsofthsm.so',
  '/usr/lib/pkcs11/libsofthsm2.so',
  '/opt/homebrew/lib/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
] as const;

export const EMBEDDED_TOKEN_LABEL = 'mhsm';

export interface EmbeddedToken {
  modulePath: string;
  label: string;
  pin: string;
  soPin: string;
  /** The softhsm2.conf this process uses (SOFTHSM2_CONF). */
  configPath: string;
  tokenDir: string;
  pinsPath: string;
}

interface PinsFile {
  label: string;
  userPin: string;
  soPin: string;
}

/** MHSM_PKCS11_MODULE if set, else the first SoftHSM2 library found at the usual paths. */
export function locateSoftHsm(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.MHSM_PKCS11_MODULE;
  if (configured) {
    if (!existsSync(configured)) {
      throw new TokenError('MODULE_UNAVAILABLE', `MHSM_PKCS11_MODULE names ${configured}, which does not exist`);
    }
    return configured;
  }
  const found = SOFTHSM_MODULE_CANDIDATES.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new TokenError(
      'MODULE_UNAVAILABLE',
      'SoftHSM2 is not installed: install it (Debian/Ubuntu: apt-get install -y softhsm2; Fedora: dnf install softhsm; ' +
        'macOS: brew install softhsm), set MHSM_PKCS11_MODULE to its library, or use --module for another PKCS#11 module',
    );
  }
  return found;
}

function writeSecretFile(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600); // the mode option does not apply to an existing file
}

function readOrCreatePins(pinsPath: string): PinsFile {
  if (existsSync(pinsPath)) {
    if ((statSync(pinsPath).mode & 0o077) !== 0) chmodSync(pinsPath, 0o600);
    const pins = JSON.parse(readFileSync(pinsPath, 'utf8')) as Partial<PinsFile>;
    if (typeof pins.userPin !== 'string' || typeof pins.soPin !== 'string' || typeof pins.label !== 'string') {
      throw new TokenError('PIN_INCORRECT', `${pinsPath} is not a valid PIN file: it needs label, userPin and soPin`);
    }
    return pins as PinsFile;
  }
  const pins: PinsFile = {
    label: EMBEDDED_TOKEN_LABEL,
    userPin: randomBytes(16).toString('hex'),
    soPin: randomBytes(16).toString('hex'),
  };
  writeSecretFile(pinsPath, `${JSON.stringify(pins, null, 2)}\n`);
  return pins;
}

/** The softhsm2.conf of an embedded token whose objects live in `tokenDir`. */
export function softHsmConfig(tokenDir: string): string {
  return [
    '# Written by mhsm for its embedded token.',
    `directories.tokendir = ${tokenDir}`,
    'objectstore.backend = file',
    'log.level = ERROR',
    'slots.removable = false',
    '',
  ].join('\n');
}

/**
 * Makes sure the data directory holds a configured and initialised SoftHSM2 token, and points
 * this process at it (SOFTHSM2_CONF, read by SoftHSM2 at C_Initialize). Idempotent.
 *
 * `whileLoaded`: runs with the module still initialised (opening the token, say). SoftHSM2 reads
 * every object file of its tokens at C_Initialize: with 10,000 keys that is about half a second,
 * which finalising the module in between would make the start pay twice.
 */
export async function provisionEmbeddedToken<T = undefined>(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
  whileLoaded?: (embedded: EmbeddedToken) => Promise<T>,
): Promise<EmbeddedToken & { result?: T }> {
  const modulePath = locateSoftHsm(env);
  const root = path.resolve(dataDir, 'softhsm');
  const tokenDir = path.join(root, 'tokens');
  mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
  chmodSync(path.resolve(dataDir), 0o700);
  chmodSync(root, 0o700);

  const configPath = path.join(root, 'softhsm2.conf');
  if (!existsSync(configPath)) writeFileSync(configPath, softHsmConfig(tokenDir), { mode: 0o600 });
  const pinsPath = path.join(root, 'pins.json');
  const pins = readOrCreatePins(pinsPath);

  process.env.SOFTHSM2_CONF = configPath;
  const embedded: EmbeddedToken = { modulePath, label: pins.label, pin: pins.userPin, soPin: pins.soPin, configPath, tokenDir, pinsPath };
  const module = acquireModule(modulePath);
  try {
    // The trusted wrapping key is no longer made here: the security domain installs its own.
    if (!(await hasToken(module, pins.label))) await initialiseToken(module, pins);
    return whileLoaded ? { ...embedded, result: await whileLoaded(embedded) } : embedded;
  } finally {
    releaseModule(module);
  }
}

type Module = ReturnType<typeof acquireModule>;

async function hasToken(module: Module, label: string): Promise<boolean> {
  for (const slot of module.getSlotList(true)) {
    const info = await module.getTokenInfo(slot);
    if ((info.flags & CKF.TOKEN_INITIALIZED) !== 0 && info.label === label) return true;
  }
  return false;
}

async function initialiseToken(module: Module, pins: PinsFile): Promise<void> {
  let freeSlot: number | undefined;
  for (const slot of module.getSlotList(true)) {
    if (((await module.getTokenInfo(slot)).flags & CKF.TOKEN_INITIALIZED) === 0) {
      freeSlot = slot;
      break;
    }
  }
  if (freeSlot === undefined) throw new TokenError('TOKEN_NOT_FOUND', `no free SoftHSM2 slot to initialise token '${pins.label}'`);
  await module.initToken(freeSlot, pins.soPin, pins.label);
  // SoftHSM2 may renumber the slot: find the new token by its label.
  let slot: number | undefined;
  for (const candidate of module.getSlotList(true)) {
    if ((await module.getTokenInfo(candidate)).label === pins.label) slot = candidate;
  }
  if (slot === undefined) throw new TokenError('TOKEN_NOT_FOUND', `token '${pins.label}' vanished after initialisation`);
  const session = module.openSession(slot, CKF.RW_SESSION);
  try {
    await module.login(session, CKU.SO, pins.soPin);
    await module.initPin(session, pins.userPin);
    module.logout(session);
  } finally {
    module.closeSession(session);
  }
}
