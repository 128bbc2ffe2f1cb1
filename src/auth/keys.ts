import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { auditEvent } from '../domain/audit.ts';
import type { Clock } from '../domain/clock.ts';
import { DEFAULT_CUSTOMER_NAME, type Actor, type ApiKey, type Role } from '../domain/types.ts';
import { apiError } from '../errors.ts';
import { MAX_API_KEYS } from '../contract/limits.ts';
import type { Store } from '../domain/store.ts';
import { adminRestApiUrl, generateRsaKeyPair, writeKeyFile, type KeyFile } from './keyfile.ts';


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
export function makeKeyService({ store, clock, publicUrl, customerName = DEFAULT_CUSTOMER_NAME }: KeyServiceDeps) {
  async function make(actor: Actor, role: Role, description: string | null, onlyIfNone: boolean, saveTo: string | undefined) {
    const { privateKeyPem, publicKeyPem } = await generateRsaKeyPair();
    const key: ApiKey = { accessId: randomUUID(), role, description, publicKeyPem, createdAt: clock.nowIso() };
    const keyFile: KeyFile = {
      customerName,
      accessID: key.accessId,
      description: description ?? '',
      accessKey: privateKeyPem,
      adminRestApiUrl: adminRestApiUrl(publicUrl),
    };
    // The file first: a key whose private half could not be handed out would be an orphan,
    // counting against the cap with no one able to use it.
    const path = saveTo === undefined ? undefined : await writeKeyFile(saveTo, keyFile);
    let made: boolean;
    try {
      made = await store.transaction(async (tx) => {
        // The key list's lock first, so that instances adding keys at once take turns.
        await tx.lockKeys();
        const existing = (await tx.apiKeys()).length;
        if (onlyIfNone && existing > 0) return false;
        if (existing >= MAX_API_KEYS) throw apiError('TOO_MANY_KEYS');
        await tx.insertApiKey(key);
        await tx.appendAudit(auditEvent(actor, key.createdAt, 'apikey.create', { accessId: key.accessId }, 'changed', 200));
        return true;
      });
    } catch (error) {
      if (path) await rm(path, { force: true });
      throw error;
    }
    if (!made) {
      if (path) await rm(path, { force: true });
      return null;
    }
    return { key, keyFile, path };
  }

  return {
    /**
     * A new key bound to `role`, and its key file (which holds the private key: hand it out once).
     * With `saveTo`, the key file is written into that folder (`path`) before the key is
     * committed, and the key is not made if it cannot be.
     */
    async create(actor: Actor, role: Role, description: string | null, saveTo?: string): Promise<{ key: ApiKey; keyFile: KeyFile; path?: string }> {
      return (await make(actor, role, description, false, saveTo))!;
    },

    /**
     * The bootstrap SuperAdmin key of `serve`, made only when the tenant has no key at all. That
     * is decided in the same transaction as the insert, so several instances starting together
     * on an empty database make one between them; the others get null.
     */
    createFirst: (actor: Actor, saveTo?: string) => make(actor, 'SuperAdmin', 'bootstrap key', true, saveTo),

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
