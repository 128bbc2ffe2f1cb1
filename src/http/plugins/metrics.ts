import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RateLimiter } from '../../ratelimit/limiter.ts';
import type { Store } from '../../domain/store.ts';

export interface MetricsOptions {
  store: Store;
  /** The limiter the guard will use; the returned one counts its refusals. */
  limiter: RateLimiter;
  /** Also export the process's own metrics (CPU, memory, event loop, GC): `serve` turns this on. */
  processMetrics?: boolean;
}

export interface Metrics {
  registry: Registry;
  /** `limiter`, counting the requests it refuses by scope. */
  limiter: RateLimiter;
}

/** The bucket names of the guard (`addr:…`, `key:…`) as a label with few values. */
const scopeOf = (bucket: string): string => (bucket.startsWith('addr:') ? 'address' : bucket.startsWith('key:') ? 'key' : 'other');

/**
 * Prometheus metrics at `GET /metrics` (no token, like the health checks; keep it off the public
 * side of the load balancer): requests and their latency by route and status, rate-limit
 * refusals by scope, whether the rate limits are shared (Redis reachable), and the database pool.
 * Each app has a registry of its own, so several apps in one process (tests) do not collide.
 */
export function installMetrics(app: FastifyInstance, options: MetricsOptions): Metrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });

  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({
    name: 'ds100_http_requests_total',
    help: 'HTTP requests answered, by route pattern and status',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'ds100_http_request_duration_seconds',
    help: 'Time from receiving a request to answering it, by route pattern and status',
    labelNames,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'ds100_rate_limit_refusals_total',
    help: 'Requests refused with 429, by bucket scope (address: before the token, key: per API key)',
    labelNames: ['scope'] as const,
    registers: [registry],
  });

  const limiter = options.limiter as RateLimiter & { shared?: boolean };
  if (typeof limiter.shared === 'boolean') {
    new Gauge({
      name: 'ds100_rate_limit_shared',
      help: '1 while rate-limit buckets are shared through Redis, 0 while this instance counts alone',
      registers: [registry],
      collect() {
        this.set(limiter.shared ? 1 : 0);
      },
    });
  }

  const { store } = options;
  new Gauge({
    name: 'ds100_audit_pending_events',
    help: 'Audit events of calls that changed nothing, waiting to be written',
    registers: [registry],
    collect() {
      this.set(store.stats().auditPending);
    },
  });
  if (store.stats().pool) {
    const pool = () => store.stats().pool!;
    new Gauge({
      name: 'ds100_db_pool_connections',
      help: 'Database connections of this instance: open (total), idle, and callers waiting for one',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const s = pool();
        this.set({ state: 'total' }, s.total);
        this.set({ state: 'idle' }, s.idle);
        this.set({ state: 'waiting' }, s.waiting);
      },
    });
    new Gauge({
      name: 'ds100_db_pool_max',
      help: 'Most database connections this instance opens',
      registers: [registry],
      collect() {
        this.set(pool().max);
      },
    });
  }

  app.addHook('onResponse', (request, reply, done) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
    done();
  });

  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  return {
    registry,
    limiter: {
      async take(bucket, policy) {
        const decision = await options.limiter.take(bucket, policy);
        if (!decision.allowed) refusals.inc({ scope: scopeOf(bucket) });
        return decision;
      },
      ...(options.limiter.close ? { close: () => options.limiter.close!() } : {}),
    },
  };
}
