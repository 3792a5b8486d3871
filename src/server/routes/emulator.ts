// The emulator's own endpoints, beside the service's API: its clock. Administrators only
// (settings read and write), and audited like every call.
import type { FastifyInstance } from 'fastify';
import type { ClockControl } from '../../hsm/clock-control.js';
import { bodyOf } from '../wire.js';

export function registerEmulatorRoutes(app: FastifyInstance, clock: ClockControl): void {
  app.get('/emulator/clock', { config: { operation: 'getClock' } }, async () => clock.state());
  app.post('/emulator/clock/shift', { config: { operation: 'shiftClock' } }, async (request) => {
    const body = bodyOf(request.body);
    return clock.shift({ days: body.days, seconds: body.seconds });
  });
}
