// Opens the token the configuration names: the embedded SoftHSM2 one, or a configured module's.
import { provisionEmbeddedToken } from '../token/embedded-softhsm.js';
import { Token } from '../token/token.js';
import type { Config } from './config.js';

export async function openConfiguredToken(config: Config): Promise<Token> {
  if (config.token.kind === 'module') {
    const { modulePath, label, pin } = config.token;
    return Token.open({ modulePath, label, pin });
  }
  const embedded = await provisionEmbeddedToken(config.dataDir);
  return Token.open({ modulePath: embedded.modulePath, label: embedded.label, pin: embedded.pin });
}
