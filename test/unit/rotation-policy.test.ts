import { describe, expect, it } from 'vitest';
import { durationSeconds } from '../../src/hsm/durations.js';
import { checkRotationPolicy, rotationDue } from '../../src/hsm/rotation-policy.js';

describe('durationSeconds', () => {
  it('reads ISO 8601 durations and refuses anything else', () => {
    expect(durationSeconds('P90D')).toBe(90 * 86400);
    expect(durationSeconds('P1Y2M3W4DT5H6M7S')).toBe(365 * 86400 + 60 * 86400 + 21 * 86400 + 4 * 86400 + 5 * 3600 + 6 * 60 + 7);
    expect(durationSeconds('PT12H')).toBe(12 * 3600);
    for (const bad of ['P', 'PT', '90D', 'P1.5D', 'P-1D', 'PDT1H', '']) expect(durationSeconds(bad), bad).toBeUndefined();
  });
});

describe('checkRotationPolicy', () => {
  it('accepts Rotate actions and an expiry, and treats the empty policy as removal', () => {
    expect(
      checkRotationPolicy({ lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'rotate' } }], attributes: { expiryTime: 'P90D' } }),
    ).toEqual({ lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Rotate' } }], expiryTime: 'P90D' });
    expect(checkRotationPolicy({ lifetimeActions: [], attributes: {} })).toBeUndefined();
  });

  it('names the field and the rule', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Notify' } }] }, /lifetimeActions\[0\]\.action\.type: Managed HSM supports Rotate only/],
      [{ lifetimeActions: [{ trigger: {}, action: { type: 'Rotate' } }] }, /exactly one of timeAfterCreate and timeBeforeExpiry/],
      [{ lifetimeActions: [{ trigger: { timeAfterCreate: 'P7D' }, action: { type: 'Rotate' } }] }, /timeAfterCreate: must be at least 28 days/],
      [{ lifetimeActions: [{ trigger: { timeAfterCreate: '30 days' }, action: { type: 'Rotate' } }] }, /is not an ISO 8601 duration/],
      [{ lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P7D' }, action: { type: 'Rotate' } }] }, /attributes\.expiryTime: required/],
      [{ lifetimeActions: 'x' }, /lifetimeActions: must be an array/],
      [{ attributes: { expiryTime: 'P1D' } }, /attributes\.expiryTime: must be at least 28 days/],
    ];
    for (const [body, message] of cases) expect(() => checkRotationPolicy(body)).toThrow(message);
  });
});

describe('rotationDue', () => {
  it('takes the earliest trigger', () => {
    const policy = {
      lifetimeActions: [
        { trigger: { timeAfterCreate: 'P60D' }, action: { type: 'Rotate' as const } },
        { trigger: { timeBeforeExpiry: 'P10D' }, action: { type: 'Rotate' as const } },
      ],
      expiryTime: 'P90D',
      created: 0,
      updated: 0,
    };
    expect(rotationDue(policy, 1000, null)).toBe(1000 + 60 * 86400);
    expect(rotationDue(policy, 1000, 1000 + 40 * 86400)).toBe(1000 + 30 * 86400);
  });
});
