// The HSM's settings.
import type { FastifyInstance } from 'fastify';
import type { Settings } from '../../hsm/settings.js';
import { bodyOf } from '../wire.js';
import { checkApiVersion } from './api-version.js';

export function registerSettingsRoutes(app: FastifyInstance, settings: Settings): void {
  app.get('/settings', { config: { operation: 'getSettings' } }, async (request) => {
    checkApiVersion(request);
    return { settings: settings.list() };
  });
  app.get('/settings/:setting', { config: { operation: 'getSettings' } }, async (request) => {
    checkApiVersion(request);
    return settings.get((request.params as { setting: string }).setting);
  });
  app.patch('/settings/:setting', { config: { operation: 'updateSetting' } }, async (request) => {
    checkApiVersion(request);
    return settings.update((request.params as { setting: string }).setting, bodyOf(request.body).value);
  });
}
