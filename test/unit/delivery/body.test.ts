import { describe, expect, it } from 'vitest';
import { renderEvent, webhookBody } from '../../../src/delivery/outbox.js';

describe('webhookBody', () => {
  const row = {
    id: 'evt_01JD3Q0000000000000000000',
    type: 'message.received',
    created_at: new Date('2026-12-01T08:00:00.123Z'),
    appid: 'wx"quoted\\appid',
  };
  const data = {
    openid: 'o1',
    msgId: '24615932447289478',
    text: { content: '您好 "引号" \n\u2028' },
    n: [1, 2.5],
  };

  it('is the JSON of renderEvent, with the data text spliced in as it is', () => {
    // PostgreSQL's jsonb text puts spaces after ':' and ','; the splice keeps them
    const pgText =
      '{"n": [1, 2.5], "text": {"content": "您好 \\"引号\\" \\n\u2028"}, "msgId": "24615932447289478", "openid": "o1"}';
    const body = webhookBody(row, pgText);
    expect(JSON.parse(body)).toEqual(renderEvent({ ...row, data }));
    expect(body.startsWith('{"id":"evt_01JD3Q0000000000000000000","type":"message.received"')).toBe(true);
    expect(body.endsWith(`"data":${pgText}}`)).toBe(true);
  });
});
