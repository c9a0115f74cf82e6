// What every operation can answer, and the headers every answer carries, though no route lists them itself:
// declared once, over the generated document, so the document says what the service does (http-api.md §5).

interface Parameter {
  in: string;
  name: string;
}
interface ResponseObject {
  description: string;
  headers?: Record<string, unknown>;
  content?: unknown;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: unknown;
  responses?: Record<string, ResponseObject>;
}
interface Document {
  paths?: Record<string, Record<string, Operation>>;
}

const problemContent = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
const problem = (description: string): ResponseObject => ({ description, content: problemContent });

const REQUEST_ID = {
  description: 'The request id (a sane incoming x-request-id is echoed); problems carry it as requestId',
  schema: { type: 'string' },
};
const RETRY_AFTER = {
  description: 'Seconds to wait before sending again (WeChat’s 45011: 60)',
  schema: { type: 'integer' },
};
const REPLAYED = {
  description: '`true` when this is the stored answer to a repeated Idempotency-Key (nothing was sent again)',
  schema: { type: 'string', enum: ['true'] },
};

/** Adds the answers and headers common to all operations to `doc` (in place) and returns it. */
export function withCommonResponses<T>(doc: T): T {
  const paths = (doc as Document).paths ?? {};
  for (const operations of Object.values(paths)) {
    for (const op of Object.values(operations)) {
      op.responses ??= {};
      const responses = op.responses;
      responses['500'] ??= problem('Something went wrong on our side (`internal`)');
      responses['503'] ??= problem('The database is unavailable (`service_unavailable`); try again shortly');
      if (op.requestBody)
        responses['413'] ??= problem('The body is over the size limit (`payload_too_large`)');
      if (op.parameters?.some((p) => p.in === 'path'))
        responses['422'] ??= problem('Validation failed (a path parameter is malformed)');
      const idempotent = op.parameters?.some(
        (p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key',
      );
      for (const [status, response] of Object.entries(responses)) {
        const headers: Record<string, unknown> = { 'x-request-id': REQUEST_ID, ...response.headers };
        if (status === '429') headers['Retry-After'] = RETRY_AFTER;
        if (idempotent) headers['Idempotent-Replayed'] = REPLAYED;
        response.headers = headers;
      }
    }
  }
  return doc;
}
