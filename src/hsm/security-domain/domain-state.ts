// The security domain's state, kept in the store's markers: whether the HSM is activated, by
// which domain and how, and what the last download and upload reported.
import type { MarkerStore } from '../../store/access-store.js';

/** How the HSM got its domain: made by a download, installed by an upload, or older than domains. */
export type DomainOrigin = 'download' | 'upload' | 'legacy';

export type DomainRecord =
  /** Provisioned and waiting for a download (activation) or an upload (recovery). */
  | { status: 'not-activated' }
  | {
      status: 'active';
      /** hex of the domain's 16-byte id. */
      domainId: string;
      origin: DomainOrigin;
      activatedAt: number;
      /** base64url of the payload sealed under the sealing key, for a later download; none for legacy. */
      sealedPayload?: string;
    };

export interface OperationStatus {
  status: 'Success' | 'InProgress' | 'Failed';
  status_details: string;
}

export interface TransferKeyRecord {
  /** hex of the key pair's CKA_ID. */
  id: string;
  /** base64 of the certificate's DER. */
  certificate: string;
}

const DOMAIN = 'security-domain';
const TRANSFER_KEY = 'security-domain-transfer-key';
const STATUS = { download: 'security-domain-download-status', upload: 'security-domain-upload-status' } as const;

export class DomainState {
  constructor(private readonly markers: MarkerStore) {}

  /** undefined: a data directory that has never had a domain decision (first start, or older). */
  record(): DomainRecord | undefined {
    const value = this.markers.marker(DOMAIN);
    return value === undefined ? undefined : (JSON.parse(value) as DomainRecord);
  }

  setRecord(record: DomainRecord): void {
    this.markers.setMarker(DOMAIN, JSON.stringify(record));
  }

  status(operation: 'download' | 'upload'): OperationStatus | undefined {
    const value = this.markers.marker(STATUS[operation]);
    return value === undefined ? undefined : (JSON.parse(value) as OperationStatus);
  }

  setStatus(operation: 'download' | 'upload', status: OperationStatus): void {
    this.markers.setMarker(STATUS[operation], JSON.stringify(status));
  }

  transferKey(): TransferKeyRecord | undefined {
    const value = this.markers.marker(TRANSFER_KEY);
    return value === undefined || value === '' ? undefined : (JSON.parse(value) as TransferKeyRecord);
  }

  setTransferKey(record: TransferKeyRecord | undefined): void {
    this.markers.setMarker(TRANSFER_KEY, record === undefined ? '' : JSON.stringify(record));
  }
}
