import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Logger } from '../log.js';

export interface ApiVariables {
  requestId: string;
  log: Logger;
  tenantId: string;
}

export type ApiEnv = { Variables: ApiVariables };
export type ApiApp = OpenAPIHono<ApiEnv>;
