// Rotation policies as Managed HSM has them: Rotate actions only (no Notify: no Event Grid),
// triggered some time after a version was made or some time before it expires, and an optional
// expiry for new versions.
import { HsmError } from './errors.js';
import { durationSeconds } from './durations.js';

export interface LifetimeAction {
  trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string };
  action: { type: 'Rotate' };
}

export interface RotationPolicy {
  lifetimeActions: LifetimeAction[];
  expiryTime?: string;
  created: number;
  updated: number;
}

/** The service's floor for rotation intervals and expiry times. */
export const MINIMUM_SECONDS = 28 * 86400;

function bad(message: string): HsmError {
  return new HsmError('BadParameter', message);
}

function duration(value: unknown, field: string, minimum: number): string {
  if (typeof value !== 'string') throw bad(`${field}: must be an ISO 8601 duration such as P90D`);
  const seconds = durationSeconds(value);
  if (seconds === undefined) throw bad(`${field}: '${value}' is not an ISO 8601 duration such as P90D`);
  if (seconds < minimum) throw bad(`${field}: must be at least ${minimum / 86400} days`);
  return value;
}

/** Checks a PUT body; returns the policy's parts, or undefined for the empty policy that removes it. */
export function checkRotationPolicy(body: Record<string, unknown>): Pick<RotationPolicy, 'lifetimeActions' | 'expiryTime'> | undefined {
  const actions = body.lifetimeActions ?? [];
  if (!Array.isArray(actions)) throw bad('lifetimeActions: must be an array');
  const attributes = (body.attributes ?? {}) as Record<string, unknown>;
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) throw bad('attributes: must be an object');
  const lifetimeActions = actions.map((entry: unknown, index): LifetimeAction => {
    const where = `lifetimeActions[${index}]`;
    const { trigger, action } = (entry ?? {}) as { trigger?: Record<string, unknown>; action?: Record<string, unknown> };
    const type = action?.type;
    if (typeof type !== 'string' || type.toLowerCase() !== 'rotate') {
      throw bad(`${where}.action.type: Managed HSM supports Rotate only (no Notify)`);
    }
    const after = trigger?.timeAfterCreate;
    const before = trigger?.timeBeforeExpiry;
    if ((after === undefined) === (before === undefined)) throw bad(`${where}.trigger: give exactly one of timeAfterCreate and timeBeforeExpiry`);
    return {
      trigger: after !== undefined ? { timeAfterCreate: duration(after, `${where}.trigger.timeAfterCreate`, MINIMUM_SECONDS) } : { timeBeforeExpiry: duration(before, `${where}.trigger.timeBeforeExpiry`, 86400) },
      action: { type: 'Rotate' },
    };
  });
  const expiryTime = attributes.expiryTime === undefined ? undefined : duration(attributes.expiryTime, 'attributes.expiryTime', MINIMUM_SECONDS);
  if (lifetimeActions.some((a) => a.trigger.timeBeforeExpiry !== undefined) && expiryTime === undefined) {
    throw bad('attributes.expiryTime: required when an action is triggered before expiry');
  }
  if (lifetimeActions.length === 0 && expiryTime === undefined) return undefined;
  return expiryTime === undefined ? { lifetimeActions } : { lifetimeActions, expiryTime };
}

/** When the newest version (made at `created`, expiring at `expires`) is due for rotation, if ever. */
export function rotationDue(policy: RotationPolicy, created: number, expires: number | null): number | undefined {
  const times = policy.lifetimeActions.flatMap(({ trigger }) => {
    if (trigger.timeAfterCreate) return [created + (durationSeconds(trigger.timeAfterCreate) as number)];
    if (trigger.timeBeforeExpiry && expires !== null) return [expires - (durationSeconds(trigger.timeBeforeExpiry) as number)];
    return [];
  });
  return times.length > 0 ? Math.min(...times) : undefined;
}
