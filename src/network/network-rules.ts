// Network rules as the service's network ACLs: public network access on or off, a default action,
// and IP rules (IPv4 and IPv6 addresses or CIDR ranges) that allow callers when the default denies.
import { BlockList, isIP } from 'node:net';
import { HsmError } from '../hsm/errors.js';

export interface NetworkRules {
  publicNetworkAccess: 'Enabled' | 'Disabled';
  defaultAction: 'Allow' | 'Deny';
  /** Addresses or CIDR ranges, as given (normalized to address/prefix). */
  ipRules: string[];
}

export const OPEN_NETWORK: NetworkRules = { publicNetworkAccess: 'Enabled', defaultAction: 'Allow', ipRules: [] };
const MAX_IP_RULES = 1000;

export type NetworkDecision = { allowed: true } | { allowed: false; reason: 'ForbiddenByConnection' | 'ForbiddenByFirewall' };

function bad(message: string): HsmError {
  return new HsmError('BadParameter', message);
}

/** 'a.b.c.d', 'a.b.c.d/n', an IPv6 address or 'v6/n', as address/prefix. */
export function parseIpRule(text: unknown, field: string): string {
  if (typeof text !== 'string') throw bad(`${field}: must be an IPv4 or IPv6 address or CIDR range`);
  const [address = '', prefixText, extra] = text.trim().split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (family === 0 || extra !== undefined || !Number.isInteger(prefix) || prefix > max) {
    throw bad(`${field}: '${String(text).slice(0, 60)}' is not an IPv4 or IPv6 address or CIDR range`);
  }
  return `${address.toLowerCase()}/${prefix}`;
}

/** Checks a whole rule set from a request body, a config file or flags. */
export function parseNetworkRules(input: unknown, base: NetworkRules = OPEN_NETWORK): NetworkRules {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw bad('network rules: must be an object');
  const value = input as Record<string, unknown>;
  const publicNetworkAccess = value.publicNetworkAccess ?? base.publicNetworkAccess;
  if (publicNetworkAccess !== 'Enabled' && publicNetworkAccess !== 'Disabled') throw bad("publicNetworkAccess: must be 'Enabled' or 'Disabled'");
  const defaultAction = value.defaultAction ?? base.defaultAction;
  if (defaultAction !== 'Allow' && defaultAction !== 'Deny') throw bad("defaultAction: must be 'Allow' or 'Deny'");
  const rules = value.ipRules ?? base.ipRules;
  if (!Array.isArray(rules) || rules.length > MAX_IP_RULES) throw bad(`ipRules: must be an array of at most ${MAX_IP_RULES} addresses or CIDR ranges`);
  const ipRules = [...new Set(rules.map((rule, i) => parseIpRule(typeof rule === 'object' && rule !== null ? (rule as { value?: unknown }).value : rule, `ipRules[${i}]`)))];
  return { publicNetworkAccess, defaultAction, ipRules };
}

/** The address a socket reports, with an IPv4-mapped IPv6 address read as IPv4. */
export function callerAddress(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return mapped ? (mapped[1] as string) : ip;
}

export class NetworkAcl {
  readonly #rules: NetworkRules;
  readonly #allowList = new BlockList();

  constructor(rules: NetworkRules) {
    this.#rules = rules;
    for (const rule of rules.ipRules) {
      const [address, prefix] = rule.split('/') as [string, string];
      this.#allowList.addSubnet(address, Number(prefix), isIP(address) === 4 ? 'ipv4' : 'ipv6');
    }
  }

  get rules(): NetworkRules {
    return this.#rules;
  }

  decide(ip: string): NetworkDecision {
    if (this.#rules.publicNetworkAccess === 'Disabled') return { allowed: false, reason: 'ForbiddenByConnection' };
    if (this.#rules.defaultAction === 'Allow') return { allowed: true };
    const address = callerAddress(ip);
    const family = isIP(address);
    if (family !== 0 && this.#allowList.check(address, family === 4 ? 'ipv4' : 'ipv6')) return { allowed: true };
    return { allowed: false, reason: 'ForbiddenByFirewall' };
  }
}
