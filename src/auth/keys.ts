import { randomUUID } from 'node:crypto';
import { auditEvent } from '../domain/audit.ts';
import type { Clock } from '../domain/clock.ts';
import type { Actor, ApiKey, Role } from '../domain/types.ts';
import { apiError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import { adminRestApiUrl, generateRsaKeyPair, type KeyFile } from './keyfile.ts';

/** A tenant holds at most this many Administration API keys (vendor documentation). */
export const MAX_API_KEYS = 10;

export interface KeyServiceDeps {
  store: Store;
  clock: Clock;
  publicUrl: string;
  customerName?: string;
}

/**
 * Administration API keys: the server keeps the public half; the key file with the private half
 * is handed out once, by `create`, and never stored.
 */
export function makeKeyService({ store, clock, publicUrl, customerName = 'ds100-admin' }: KeyServiceDeps) {
  return {
    async create(actor: Actor, role: Role, description: string | null): Promise<{ key: ApiKey; keyFile: KeyFile }> {
      const { privateKeyPem, publicKeyPem } = await generateRsaKeyPair();
      const key: ApiKey = { accessId: randomUUID(), role, description, publicKeyPem, createdAt: clock.nowIso() };
      await store.transaction(async (tx) => {
        if ((await tx.apiKeys()).length >= MAX_API_KEYS) throw apiError('TOO_MANY_KEYS');
        await tx.insertApiKey(key);
        await tx.appendAudit(auditEvent(actor, key.createdAt, 'apikey.create', { accessId: key.accessId }, 'changed', 200));
      });
      const keyFile: KeyFile = {
        customerName,
        accessID: key.accessId,
        description: description ?? '',
        accessKey: privateKeyPem,
        adminRestApiUrl: adminRestApiUrl(publicUrl),
      };
      return { key, keyFile };
    },

    async delete(actor: Actor, accessId: string): Promise<void> {
      await store.transaction(async (tx) => {
        if (!(await tx.deleteApiKey(accessId))) throw apiError('API_KEY_NOT_FOUND', accessId);
        await tx.appendAudit(auditEvent(actor, clock.nowIso(), 'apikey.delete', { accessId }, 'changed', 200));
      });
    },

    list: (): Promise<ApiKey[]> => store.apiKeys(),
  };
}

export type KeyService = ReturnType<typeof makeKeyService>;
