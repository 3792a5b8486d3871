// The emulator's own endpoints, beside the service's API: its status, clock and network rules.
// Administrators only (settings read and write), and audited like every call. The network rules
// are reached whatever they say, as the service's are set through its management plane.
import type { FastifyInstance } from 'fastify';
import type { ClockControl } from '../../hsm/clock-control.js';
import type { NetworkPolicy } from '../../network/network-policy.js';
import type { EmulatorStatus } from '../status.js';
import { bodyOf } from '../wire.js';

export function registerEmulatorRoutes(app: FastifyInstance, clock: ClockControl, network: NetworkPolicy, status: () => EmulatorStatus): void {
  app.get('/emulator/status', { config: { operation: 'getStatus' } }, async () => status());
  app.get('/emulator/network', { config: { operation: 'getNetworkRules', networkExempt: true } }, async () => network.acl.rules);
  app.put('/emulator/network', { config: { operation: 'setNetworkRules', networkExempt: true } }, async (request) => network.update(bodyOf(request.body)));

  app.get('/emulator/clock', { config: { operation: 'getClock' } }, async () => clock.state());
  app.post('/emulator/clock/shift', { config: { operation: 'shiftClock' } }, async (request) => {
    const body = bodyOf(request.body);
    return clock.shift({ days: body.days, seconds: body.seconds });
  });
}
