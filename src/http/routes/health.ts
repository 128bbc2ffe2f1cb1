import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../../domain/store.ts';

/**
 * `/healthz`: the process answers. `/readyz`: it can also reach its database, so a load
 * balancer sends it traffic. Neither needs a token.
 */
export const healthRoutes =
  (store: Store): FastifyPluginAsync =>
  async (app) => {
    app.get('/healthz', async () => ({ status: 'ok' }));
    app.get('/readyz', async (request, reply) => {
      try {
        await store.ping();
        return { status: 'ready', store: store.engine };
      } catch (err) {
        request.log.warn({ err }, 'readiness check failed');
        return reply.code(503).send({ status: 'unavailable', store: store.engine });
      }
    });
  };
