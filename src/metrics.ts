import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Every metric kefu-relay exports, on a registry of its own (no prom-client global). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kefu_' });
  const m = {
    registry,
    httpRequests: new Counter({
      name: 'kefu_http_requests_total',
      help: 'HTTP requests by route and status class',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    pushesReceived: new Counter({
      name: 'kefu_pushes_received_total',
      help: 'WeChat pushes by endpoint and result (stored, duplicate, rejected_signature, bad_request, too_large, db_unavailable, overloaded, failed)',
      labelNames: ['endpoint', 'result'] as const,
      registers: [registry],
    }),
    eventsCreated: new Counter({
      name: 'kefu_events_created_total',
      help: 'Events created by type',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    deliveries: new Counter({
      name: 'kefu_delivery_attempts_total',
      help: 'Webhook delivery attempts by outcome (succeeded, retrying, failed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    deliveryLatency: new Histogram({
      name: 'kefu_delivery_attempt_duration_seconds',
      help: 'Webhook attempt duration',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'kefu_delivery_queue_depth',
      help: 'Pending deliveries that are due',
      registers: [registry],
    }),
    queueOldestDueAge: new Gauge({
      name: 'kefu_delivery_queue_oldest_due_age_seconds',
      help: 'Age of the oldest due pending delivery',
      registers: [registry],
    }),
    clockSkew: new Gauge({
      name: 'kefu_clock_skew_seconds',
      help: "This process's clock minus the database's (leases and schedules use the process clock)",
      registers: [registry],
    }),
    endpointDisables: new Counter({
      name: 'kefu_endpoint_disables_total',
      help: 'Endpoints disabled after failing for ENDPOINT_DISABLE_AFTER',
      registers: [registry],
    }),
    wechatCalls: new Counter({
      name: 'kefu_wechat_calls_total',
      help: 'WeChat API calls by api and errcode',
      labelNames: ['api', 'errcode'] as const,
      registers: [registry],
    }),
    tokenRefreshes: new Counter({
      name: 'kefu_token_refreshes_total',
      help: 'Component and authorizer token refreshes by kind and outcome',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    messagesSent: new Counter({
      name: 'kefu_messages_sent_total',
      help: 'Reply API sends by type and outcome',
      labelNames: ['type', 'outcome'] as const,
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
