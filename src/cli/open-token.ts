// Opens the token the configuration names: the embedded SoftHSM2 one, or a configured module's.
import { provisionEmbeddedToken } from '../token/embedded-softhsm.js';
import { Token } from '../token/token.js';
import type { TokenSecrets } from '../server/emulator.js';
import type { Config } from './config.js';

export async function openConfiguredToken(config: Config): Promise<Token> {
  return (await openConfiguredTokenWithSecrets(config)).token;
}

/** The token, and its SO PIN where it is known (the embedded token's, or --so-pin for a module). */
export async function openConfiguredTokenWithSecrets(config: Config): Promise<{ token: Token; secrets: TokenSecrets }> {
  if (config.token.kind === 'module') {
    const { modulePath, label, pin, soPin } = config.token;
    return { token: await Token.open({ modulePath, label, pin }), secrets: { soPin } };
  }
  const embedded = await provisionEmbeddedToken(config.dataDir, process.env, ({ modulePath, label, pin }) => Token.open({ modulePath, label, pin }));
  return { token: embedded.result as Token, secrets: { soPin: embedded.soPin } };
}
