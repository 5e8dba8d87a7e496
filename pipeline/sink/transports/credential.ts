import type { AccessToken, TokenCredential } from '@azure/identity';
import { CliError } from '../../errors';
import { registerSecret } from '../../secrets';
import { credentialFor, type HubSettings } from '../../sources/eventhub';
import type { CredentialConfig } from '../config';

/**
 * A Microsoft Entra credential for the Azure sinks. `token` is a static bearer token from the environment,
 * for emulators and tests only; everything else goes through the project's credentialFor.
 */
export async function sinkCredential(c: CredentialConfig | undefined): Promise<TokenCredential> {
  if (c?.kind === 'token') return staticTokenCredential(c.tokenEnv);
  // credentialFor reads only these two fields of the hub settings.
  const s: Pick<HubSettings, 'credential' | 'managedIdentityClientId'> = { credential: c?.kind, managedIdentityClientId: c?.kind === 'managed-identity' ? c.clientId : undefined };
  return credentialFor(s as HubSettings);
}

function staticTokenCredential(tokenEnv: string): TokenCredential {
  const token = process.env[tokenEnv];
  if (!token) throw new CliError(`The sink's credential is {kind:'token'} but the environment variable ${tokenEnv} is empty: set it to a bearer token (emulators and tests only).`, 2);
  registerSecret(token);
  // Its real expiry is unknown; an hour ahead keeps the SDK from asking again on every request.
  return { getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}
