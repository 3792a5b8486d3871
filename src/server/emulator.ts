// The running emulator: token, metadata store, identity, key service, TLS and the HTTPS app,
// wired together and taken down in reverse order.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ShiftableClock } from '../clock/clock.js';
import { ClockControl, restoreClockOffset } from '../hsm/clock-control.js';
import { Settings } from '../hsm/settings.js';
import { KEY_LIMITS, KeyService, type Reconciliation } from '../hsm/key-service.js';
import { Identity } from '../identity/identity.js';
import { AccessControl, RBAC_LIMITS } from '../rbac/access-control.js';
import { AuditLog } from '../audit/audit-log.js';
import { NetworkPolicy } from '../network/network-policy.js';
import type { NetworkRules } from '../network/network-rules.js';
import { SqliteMetadataStore } from '../store/sqlite-store.js';
import type { MetadataStore } from '../store/metadata-store.js';
import type { Token } from '../token/token.js';
import { type ConnectionLimits, buildApp } from './app.js';
import { statusOf } from './status.js';
import { caCertificateDer, certifyPublicKey, ensureTls } from './tls.js';
import { SyncSpans } from './sync-spans.js';
import { SecurityDomain } from '../hsm/security-domain/security-domain.js';
import { type CeremonyResult, ceremonyKeyPairs, runFirstStartCeremony } from '../hsm/security-domain/first-start-ceremony.js';
import { DomainState } from '../hsm/security-domain/domain-state.js';
import { SingleKeyBackup } from '../hsm/backup/single-key-backup.js';
import { FullBackup } from '../hsm/backup/full-backup.js';
import { BackupJobs } from '../hsm/backup/backup-jobs.js';
import { TokenCleanup } from '../hsm/token-cleanup.js';
import { removeServerFile, writeServerFile } from './data-dir-lock.js';
import { openStorage } from '../hsm/backup/storage/open-storage.js';
import { KeyRelease } from '../hsm/release/key-release.js';
import { LocalAttestationAuthority } from '../hsm/release/local-authority.js';
import { ReleaseSigningKey } from '../hsm/release/release-signing-key.js';
import { softDeleteRetentionDays } from '../hsm/soft-delete-retention.js';
import { AttestationKey } from '../hsm/attestation/attestation-key.js';
import { KeyAttestation } from '../hsm/attestation/key-attestation.js';
import { type ConfiguredAuthority, TrustedAuthorities } from '../hsm/release/trusted-authorities.js';

/** The service's published limits (service-limits docs), each raisable with --service-limit NAME=N. */
export const SERVICE_LIMITS = { ...KEY_LIMITS, ...RBAC_LIMITS };
export type ServiceLimits = { [N in keyof typeof SERVICE_LIMITS]: number };

/** The retention of a key the store already holds, live or soft-deleted, if it holds any. */
function retentionOfKeys(store: MetadataStore): number | undefined {
  const live = store.listKeys(1).items[0];
  const name = live?.name ?? store.listDeletedKeys(1).items[0]?.key.name;
  return name === undefined ? undefined : store.getKey(name)?.recoverableDays;
}

export interface ServerConfig {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** The HSM's name: NAME.DNS_SUFFIX is in the certificate. */
  name: string;
  dnsSuffix: string;
  /** Soft-delete retention in days (7-90) asked for at start; the HSM keeps the one of its first start. */
  recoverableDays?: number | undefined;
  /** The service's published limits, raised for load tests; the service's own when not given. */
  serviceLimits?: Partial<ServiceLimits>;
  purgeProtection: boolean;
  /**
   * The real service's provisioning: the initial administrator holds only the Administrator role
   * and cannot use keys until someone assigns a crypto role. Applies on a data directory's first start.
   */
  manualActivation?: boolean;
  /** Copy audit lines to stdout; rotate DATA/audit/audit.log past this many bytes. */
  audit?: { stdout?: boolean; maxBytes?: number };
  /** Network rules given at start; they replace the ones kept in the data directory. */
  network?: NetworkRules;
  /** Timeouts and the connection cap. */
  limits?: ConnectionLimits;
  /** For full backups: the storage account key that useManagedIdentity uses, and where local (file://) backups may go besides DATA/backups. */
  backupStorage?: { accountKey?: string | undefined; localRoots?: string[] };
  /** Attestation authorities key release trusts besides the local one. */
  attestationAuthorities?: ConfiguredAuthority[];
  /** false: the local attestation authority is neither trusted nor served. */
  localAttestationAuthority?: boolean;
}

/** Secrets of the token that the server needs beyond its user PIN. */
export interface TokenSecrets {
  /** The security officer's PIN: activation makes the domain's CKA_TRUSTED key with it. */
  soPin?: string | undefined;
}

export interface ActivationReport {
  state: 'Active' | 'NotActivated';
  /** The first start ran the activation ceremony itself. */
  ceremony?: CeremonyResult;
  /** Why the HSM was left not activated, when the user did not ask for that. */
  warning?: string;
}

export interface RunningEmulator {
  url: string;
  activation: ActivationReport;
  /** Why the data directory got a new CA on this start, which clients must now trust. */
  caRenewed?: string;
  /** What start-up found when it compared the store with the token. */
  reconciliation: Reconciliation;
  caPath: string;
  adminPath: string;
  clock: ShiftableClock;
  close(): Promise<void>;
}


/** A promise awaited later: should a step before that fail, its rejection is not an unhandled one. */
function handledLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** How often keys past their retention are purged and keys due for rotation are rotated. */
const MAINTENANCE_INTERVAL_MS = 60_000;

export async function startEmulator(dataDir: string, token: Token, config: ServerConfig, secrets: TokenSecrets = {}): Promise<RunningEmulator> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const clock = new ShiftableClock();
  const store = new SqliteMetadataStore(path.join(dataDir, 'metadata.db'));
  const cleanup = new TokenCleanup(token, store);
  try {
    restoreClockOffset(clock, store.access);
    const limits = { ...SERVICE_LIMITS, ...config.serviceLimits };
    const keys = new KeyService(token, store, clock, {
      recoverableDays: softDeleteRetentionDays(store.access, config.recoverableDays, retentionOfKeys(store)),
      purgeProtection: config.purgeProtection,
      limits,
    });
    // What needs no token runs meanwhile: a first start makes keys for the tenant and for the
    // local attestation authority, a fifth of a second each, off the JS thread.
    const identityOpening = handledLater(Identity.open(dataDir, `https://${config.dnsSuffix}`, clock, store.access));
    // And the first start's ceremony keys, when it will run the ceremony: RSA key pairs too.
    const ceremonyAhead = new DomainState(store.access).record() === undefined && !(config.manualActivation ?? false) && secrets.soPin !== undefined;
    const ceremonyKeys = ceremonyAhead ? handledLater(ceremonyKeyPairs()) : undefined;
    const authorityOpening = handledLater(config.localAttestationAuthority === false ? Promise.resolve(undefined) : LocalAttestationAuthority.open(dataDir));
    const reconciliation = await keys.reconcile(cleanup);
    const identity = await identityOpening;
    const access = new AccessControl(store.access, limits);
    access.bootstrap(identity.admin.objectId, config.manualActivation ?? false);
    const domain = await SecurityDomain.open(token, store.access, (spki, subject) => certifyPublicKey(dataDir, spki, subject), clock, {
      soPin: secrets.soPin,
      initialAdminObjectId: identity.admin.objectId,
    });
    const activation = await activateOnFirstStart(domain, dataDir, config.manualActivation ?? false, secrets.soPin !== undefined, ceremonyKeys);
    // An unspecified address (0.0.0.0, ::) is where the server listens, not a name clients use.
    const listenName = config.host === '0.0.0.0' || config.host === '::' ? [] : [config.host];
    const tls = await ensureTls(dataDir, ['localhost', '127.0.0.1', '::1', ...listenName, `${config.name}.${config.dnsSuffix}`], config.dnsSuffix);
    let port = config.port;
    const audit = new AuditLog(dataDir, config.audit);
    const clockControl = new ClockControl(clock, store.access, keys);
    const network = new NetworkPolicy(store.access, config.network);
    mkdirSync(path.join(dataDir, 'backups'), { recursive: true, mode: 0o700 });
    const jobs = new BackupJobs(clock);
    const authority = await authorityOpening;
    const hsmNames = [`${config.name}.${config.dnsSuffix}`, 'localhost'];
    const currentCa = () => caCertificateDer(dataDir);
    const certifyForSignatures = async (spki: Buffer, subject: string) => [await certifyPublicKey(dataDir, spki, subject, { usage: 'signature', dnsNames: hsmNames }), currentCa()];
    const attestation = new KeyAttestation(token, new AttestationKey(token, store.access, certifyForSignatures, currentCa), clock);
    let announcedUrl: string | undefined;
    const release = {
      release: new KeyRelease(token, keys, domain, new TrustedAuthorities(authority, config.attestationAuthorities ?? [], clock), new ReleaseSigningKey(token, store.access, certifyForSignatures, currentCa), clock),
      ...(authority ? { authority } : {}),
      clock,
      purgeProtection: config.purgeProtection,
      url: () => announcedUrl,
    };
    const storageConfig = {
      accountKey: config.backupStorage?.accountKey,
      localRoots: [path.join(dataDir, 'backups'), ...(config.backupStorage?.localRoots ?? [])],
    };
    // MHSM_REPORT_SYNC_SPANS=1: measure how long each request holds the JS thread at a stretch.
    const syncSpans = process.env.MHSM_REPORT_SYNC_SPANS ? new SyncSpans() : undefined;
    const app = buildApp({
      ...(syncSpans ? { syncSpans } : {}),
      keys,
      backups: new SingleKeyBackup(token, store, keys, domain),
      fullBackup: {
        full: new FullBackup(token, store, domain, {
          hsmName: config.name,
          keepAssignmentsOf: identity.admin.objectId,
          rbacChanged: () => access.reload(),
          roleAssignments: () => store.access.roleAssignments(),
          cleanup,
          recoverableDays: keys.recoverableDays,
          // A full restore brings back the backup's whole state, limits aside; a selective one adds a key.
          assertRoomForRestore: (name, versions) => keys.assertRoomForRestore(name, versions),
        }),
        jobs,
        openStorage: (parameters, access) => openStorage(parameters, storageConfig, access),
        hsmName: config.name,
        clock,
      },
      domain,
      release,
      attestation,
      identity,
      access,
      audit,
      clock: clockControl,
      network,
      settings: new Settings(store.access),
      status: () => statusOf({ token, store, access: store.access, clock: clockControl, network, domain, cleanup }),
      port: () => port,
      https: { key: tls.key, cert: tls.cert },
      logLevel: process.env.MHSM_LOG_LEVEL ?? 'warn',
      ...(config.limits ? { limits: config.limits } : {}),
    });
    jobs.onUnexpected = (error) => app.log.error({ err: error }, 'a backup or restore job failed unexpectedly');
    cleanup.onError = (error) => app.log.warn({ err: error }, 'removing replaced token objects stopped; the next start-up finds the rest');
    try {
      await app.listen({ host: config.host, port: config.port });
    } catch (error) {
      await app.close();
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new Error(`port ${config.port} on ${config.host} is in use: choose another with --port or MHSM_PORT, or --port 0 for any free one`, { cause: error });
      }
      throw error;
    }
    port = (app.server.address() as AddressInfo).port;
    // MHSM_REPORT_EVENT_LOOP=1: measure how long the JS thread was held; reported (and the
    // measurement restarted) on SIGUSR2, and reported on stop.
    const eventLoop = process.env.MHSM_REPORT_EVENT_LOOP ? monitorEventLoopDelay({ resolution: 5 }) : undefined;
    const reportEventLoop = () => {
      if (syncSpans) console.log(`sync spans: ${JSON.stringify(syncSpans.report())}`);
      if (!eventLoop) return;
      console.log(`event loop delay: max ${(eventLoop.max / 1e6).toFixed(1)} ms, p99 ${(eventLoop.percentile(99) / 1e6).toFixed(1)} ms`);
      eventLoop.reset();
    };
    syncSpans?.enable();
    if (eventLoop) {
      eventLoop.enable();
      process.on('SIGUSR2', reportEventLoop);
    }
    const maintenanceTimer = setInterval(() => {
      keys.maintain().catch((error: unknown) => app.log.error({ err: error }, 'key maintenance failed'));
    }, MAINTENANCE_INTERVAL_MS);
    maintenanceTimer.unref();
    const url = `https://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    announcedUrl = url;
    writeServerFile(dataDir, url);
    return {
      activation,
      ...(tls.caRenewed ? { caRenewed: tls.caRenewed } : {}),
      reconciliation,
      url,
      caPath: tls.caPath,
      adminPath: path.join(dataDir, 'admin.json'),
      clock,
      async close() {
        clearInterval(maintenanceTimer);
        syncSpans?.disable();
        if (eventLoop) {
          reportEventLoop();
          eventLoop.disable();
          process.off('SIGUSR2', reportEventLoop);
        }
        removeServerFile(dataDir);
        await app.close();
        await cleanup.stop();
        await audit.close();
        await store.close();
      },
    };
  } catch (error) {
    await cleanup.stop();
    await store.close();
    throw error;
  }
}

/**
 * A data directory's first start: the ceremony, unless the user asked for a manual activation
 * (then the HSM waits for a download or an upload) or the token's SO PIN is not known.
 */
async function activateOnFirstStart(
  domain: SecurityDomain,
  dataDir: string,
  manual: boolean,
  haveSoPin: boolean,
  ceremonyKeys?: ReturnType<typeof ceremonyKeyPairs>,
): Promise<ActivationReport> {
  const summary = domain.summary();
  if (!summary.firstStart) return { state: summary.state };
  if (manual) {
    domain.markNotActivated();
    return { state: 'NotActivated' };
  }
  if (!haveSoPin) {
    return {
      state: 'NotActivated',
      warning: "the HSM is not activated: activation makes the security domain's CKA_TRUSTED wrapping key, which needs the token's security-officer PIN (--so-pin or MHSM_SO_PIN)",
    };
  }
  return { state: 'Active', ceremony: await runFirstStartCeremony(domain, dataDir, ceremonyKeys) };
}
