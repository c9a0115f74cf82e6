export * from './authorizers.js';
export * from './component.js';
export * from './events.js';
export * from './messaging.js';
export * from './pushes.js';
export * from './tenants.js';
export * from './webhooks.js';
