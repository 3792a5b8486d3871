// The security domain's state in the store's markers (src/hsm/security-domain/domain-state.ts):
// nothing before a decision, each record, status and transfer key read back as written, and a
// cleared transfer key read as none.
import { beforeEach, expect, it } from 'vitest';
import { DomainState } from '../../src/hsm/security-domain/domain-state.js';
import { storePerTest } from '../helpers/temp-store.js';

const temp = storePerTest('mhsm-domain-state-');
let state: DomainState;

beforeEach(() => {
  state = new DomainState(temp.store.access);
});

it('has nothing before a decision, then what was written, in markers of their own', () => {
  expect(state.record()).toBeUndefined();
  expect(state.status('download')).toBeUndefined();
  expect(state.status('upload')).toBeUndefined();
  expect(state.transferKey()).toBeUndefined();

  state.setRecord({ status: 'not-activated' });
  expect(state.record()).toEqual({ status: 'not-activated' });
  const active = { status: 'active', domainId: 'ab'.repeat(16), origin: 'upload', activatedAt: 5, sealedPayload: 'x' } as const;
  state.setRecord(active);
  expect(state.record()).toEqual(active);
  expect(temp.store.access.marker('security-domain')).toBe(JSON.stringify(active));

  state.setStatus('download', { status: 'Success', status_details: 'downloaded' });
  expect(state.status('download')).toEqual({ status: 'Success', status_details: 'downloaded' });
  expect(state.status('upload')).toBeUndefined();
  state.setStatus('upload', { status: 'Failed', status_details: 'no quorum' });
  expect(state.status('upload')).toEqual({ status: 'Failed', status_details: 'no quorum' });
  expect(state.status('download')?.status).toBe('Success');
  expect(temp.store.access.marker('security-domain-download-status')).toBeDefined();
  expect(temp.store.access.marker('security-domain-upload-status')).toBeDefined();

  state.setTransferKey({ id: '0102', certificate: 'AAAA' });
  expect(state.transferKey()).toEqual({ id: '0102', certificate: 'AAAA' });
  state.setTransferKey(undefined);
  expect(temp.store.access.marker('security-domain-transfer-key')).toBe('');
  expect(state.transferKey()).toBeUndefined();
  // Read afresh by another reader of the same store.
  expect(new DomainState(temp.store.access).record()).toEqual(active);
});
