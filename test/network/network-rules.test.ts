import { describe, expect, it } from 'vitest';
import { NetworkAcl, callerAddress, parseIpRule, parseNetworkRules } from '../../src/network/network-rules.js';

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
