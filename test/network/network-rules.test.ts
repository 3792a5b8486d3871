import { describe, expect, it } from 'vitest';
import { NetworkAcl, OPEN_NETWORK, callerAddress, parseIpRule, parseNetworkRules } from '../../src/network/network-rules.js';
import { NetworkPolicy } from '../../src/network/network-policy.js';
import { refusal } from '../helpers/refusal.js';

describe('network rules', () => {
  it('reads addresses and CIDR ranges of both families, refusing anything else by field', () => {
    expect(parseIpRule('10.1.2.3', 'r')).toBe('10.1.2.3/32');
    expect(parseIpRule('10.0.0.0/8', 'r')).toBe('10.0.0.0/8');
    expect(parseIpRule('FD00::/8', 'r')).toBe('fd00::/8');
    expect(parseIpRule('::1', 'r')).toBe('::1/128');
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/8/1', 'host', '1.2.3.4/-1', '1.2.3.4/', '1.2.3.4/-0', '1.2.3.4/ 8', '', 5]) {
      expect(() => parseIpRule(bad, 'ipRules[0]')).toThrow(/^ipRules\[0\]: /);
    }
    // The service's shape {value} is read too.
    expect(parseNetworkRules({ defaultAction: 'Deny', ipRules: [{ value: '1.2.3.4' }] }).ipRules).toEqual(['1.2.3.4/32']);
    expect(() => parseNetworkRules({ defaultAction: 'deny' })).toThrow(/^defaultAction: /);
  });

  it('allows what a rule covers when the default denies, reading IPv4-mapped addresses as IPv4', () => {
    const acl = new NetworkAcl(parseNetworkRules({ defaultAction: 'Deny', ipRules: ['192.168.0.0/16', '2001:db8::/32'] }));
    expect(callerAddress('::ffff:192.168.4.5')).toBe('192.168.4.5');
    expect(acl.decide('::ffff:192.168.4.5')).toEqual({ allowed: true });
    expect(acl.decide('192.169.0.1')).toEqual({ allowed: false, reason: 'ForbiddenByFirewall' });
    expect(acl.decide('2001:db8:1::7')).toEqual({ allowed: true });
    expect(acl.decide('2001:db9::1')).toEqual({ allowed: false, reason: 'ForbiddenByFirewall' });
    expect(new NetworkAcl(parseNetworkRules({ publicNetworkAccess: 'Disabled' })).decide('127.0.0.1')).toEqual({ allowed: false, reason: 'ForbiddenByConnection' });
  });
});

describe('network rules, each rule on its own', () => {
  it('refuses with BadParameter naming the field, and quotes at most 60 characters of the input', () => {
    expect(refusal(() => parseIpRule('host', 'ipRules[3]'))).toMatchObject({ code: 'BadParameter', message: "ipRules[3]: 'host' is not an IPv4 or IPv6 address or CIDR range" });
    expect(refusal(() => parseIpRule(7, 'ipRules[0]'))).toMatchObject({ code: 'BadParameter', message: 'ipRules[0]: must be an IPv4 or IPv6 address or CIDR range' });
    const long = `${'9'.repeat(100)}/8`;
    expect(refusal(() => parseIpRule(long, 'r')).message).toBe(`r: '${long.slice(0, 60)}' is not an IPv4 or IPv6 address or CIDR range`);
  });

  it('trims, takes only decimal prefixes of up to three digits, and keeps a prefix of 0', () => {
    expect(parseIpRule(' 10.0.0.1 ', 'r')).toBe('10.0.0.1/32');
    expect(parseIpRule('0.0.0.0/0', 'r')).toBe('0.0.0.0/0');
    expect(parseIpRule('10.0.0.0/08', 'r')).toBe('10.0.0.0/8');
    for (const bad of ['1.2.3.4/0x1', '1.2.3.4/1e1', '1.2.3.4/8x', '1.2.3.4/0008']) expect(() => parseIpRule(bad, 'r'), bad).toThrow(/is not an IPv4/);
  });

  it('refuses a rule set that is not an object, with fields of the wrong values, or too many rules', () => {
    for (const input of [null, [], 'rules', 3]) expect(refusal(() => parseNetworkRules(input))).toMatchObject({ code: 'BadParameter', message: 'network rules: must be an object' });
    expect(refusal(() => parseNetworkRules({ publicNetworkAccess: 'enabled' })).message).toBe("publicNetworkAccess: must be 'Enabled' or 'Disabled'");
    expect(refusal(() => parseNetworkRules({ ipRules: '1.2.3.4' })).message).toBe('ipRules: must be an array of at most 1000 addresses or CIDR ranges');
    const many = Array.from({ length: 1001 }, (_, i) => `10.0.${Math.floor(i / 250)}.${i % 250}`);
    expect(() => parseNetworkRules({ ipRules: many })).toThrow(/at most 1000/);
    expect(parseNetworkRules({ ipRules: many.slice(0, 1000) }).ipRules).toHaveLength(1000);
    expect(refusal(() => parseNetworkRules({ ipRules: ['1.2.3.4', 'nope'] })).message).toMatch(/^ipRules\[1\]: 'nope'/);
    expect(refusal(() => parseNetworkRules({ ipRules: [null] }))).toMatchObject({ code: 'BadParameter', message: 'ipRules[0]: must be an IPv4 or IPv6 address or CIDR range' });
  });

  it('keeps the base for fields not given, and one copy of a rule given twice', () => {
    const base = { publicNetworkAccess: 'Disabled', defaultAction: 'Deny', ipRules: ['10.0.0.0/8'] } as const;
    expect(parseNetworkRules({}, { ...base, ipRules: [...base.ipRules] })).toEqual(base);
    expect(parseNetworkRules({ defaultAction: 'Allow' }, { ...base, ipRules: [...base.ipRules] })).toEqual({ ...base, defaultAction: 'Allow' });
    expect(parseNetworkRules({ ipRules: ['1.2.3.4', '1.2.3.4/32', { value: '1.2.3.4' }] }).ipRules).toEqual(['1.2.3.4/32']);
  });

  it('reads only whole IPv4-mapped addresses as IPv4', () => {
    expect(callerAddress('::FFFF:10.1.2.3')).toBe('10.1.2.3');
    for (const other of ['x::ffff:10.1.2.3', '::ffff:10.1.2.3x', '::ffff:10.1.22.3.4', '2001:db8::1', '10.1.2.3']) expect(callerAddress(other), other).toBe(other);
    expect(callerAddress('::ffff:10.11.22.33')).toBe('10.11.22.33');
  });

  it('allows everyone under Allow, refuses an address it cannot read under Deny, and gives its rules back', () => {
    const open = new NetworkAcl(parseNetworkRules({ defaultAction: 'Allow' }));
    expect(open.decide('203.0.113.9')).toEqual({ allowed: true });
    const closed = new NetworkAcl(parseNetworkRules({ defaultAction: 'Deny', ipRules: ['0.0.0.0/0'] }));
    expect(closed.decide('not an address')).toEqual({ allowed: false, reason: 'ForbiddenByFirewall' });
    expect(closed.decide('198.51.100.1')).toEqual({ allowed: true });
    expect(closed.rules).toEqual({ publicNetworkAccess: 'Enabled', defaultAction: 'Deny', ipRules: ['0.0.0.0/0'] });
  });
});

describe('the rules in force (NetworkPolicy)', () => {
  const store = () => {
    const markers = new Map<string, string>();
    return { markers, marker: (name: string) => markers.get(name), setMarker: (name: string, value: string) => void markers.set(name, value) };
  };

  it('starts open; keeps what an update sets, merged with what was; a restart finds it', () => {
    const s = store();
    const policy = new NetworkPolicy(s);
    expect(policy.acl.rules).toEqual(OPEN_NETWORK);
    expect(s.markers.has('network-rules')).toBe(false); // nothing to keep yet
    expect(policy.update({ defaultAction: 'Deny', ipRules: ['10.0.0.0/8'] })).toEqual({ publicNetworkAccess: 'Enabled', defaultAction: 'Deny', ipRules: ['10.0.0.0/8'] });
    expect(policy.update({ publicNetworkAccess: 'Disabled' }).ipRules).toEqual(['10.0.0.0/8']);
    expect(policy.acl.decide('10.1.1.1')).toEqual({ allowed: false, reason: 'ForbiddenByConnection' });
    expect(new NetworkPolicy(s).acl.rules).toEqual({ publicNetworkAccess: 'Disabled', defaultAction: 'Deny', ipRules: ['10.0.0.0/8'] });
  });

  it('rules given at start replace the kept ones, and are kept in their place', () => {
    const s = store();
    new NetworkPolicy(s).update({ defaultAction: 'Deny' });
    const configured = { publicNetworkAccess: 'Enabled', defaultAction: 'Allow', ipRules: ['192.0.2.0/24'] } as const;
    expect(new NetworkPolicy(s, { ...configured, ipRules: [...configured.ipRules] }).acl.rules).toEqual(configured);
    expect(JSON.parse(s.markers.get('network-rules') as string)).toEqual(configured);
    expect(new NetworkPolicy(s).acl.rules).toEqual(configured);
  });
});
