export * from './client.js';
export * from './crypto.js';
export * from './envelope.js';
export * from './errors.js';
export * from './xml.js';
