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
  async function make(actor: Actor, role: Role, description: string | null, onlyIfNone: boolean) {
    const { privateKeyPem, publicKeyPem } = await generateRsaKeyPair();
    const key: ApiKey = { accessId: randomUUID(), role, description, publicKeyPem, createdAt: clock.nowIso() };
    const made = await store.transaction(async (tx) => {
      const existing = (await tx.apiKeys()).length;
      if (onlyIfNone && existing > 0) return false;
      if (existing >= MAX_API_KEYS) throw apiError('TOO_MANY_KEYS');
      await tx.insertApiKey(key);
      await tx.appendAudit(auditEvent(actor, key.createdAt, 'apikey.create', { accessId: key.accessId }, 'changed', 200));
      return true;
    });
    if (!made) return null;
    const keyFile: KeyFile = {
      customerName,
      accessID: key.accessId,
      description: description ?? '',
      accessKey: privateKeyPem,
      adminRestApiUrl: adminRestApiUrl(publicUrl),
    };
    return { key, keyFile };
  }

  return {
    /** A new key bound to `role`, and its key file (which holds the private key: hand it out once). */
    async create(actor: Actor, role: Role, description: string | null): Promise<{ key: ApiKey; keyFile: KeyFile }> {
      return (await make(actor, role, description, false))!;
    },

    /**
     * The bootstrap SuperAdmin key of `serve`, made only when the tenant has no key at all. That
     * is decided in the same transaction as the insert, so several instances starting together
     * on an empty database make one between them; the others get null.
     */
    createFirst: (actor: Actor) => make(actor, 'SuperAdmin', 'bootstrap key', true),

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
