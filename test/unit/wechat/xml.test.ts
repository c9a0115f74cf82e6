import { describe, expect, it } from 'vitest';
import { buildXml, parseXmlDocument, XmlError } from '../../../src/wechat/xml.js';
import { message } from './vectors.js';

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof XmlError) return err.reason;
    throw err;
  }
  throw new Error('expected an XmlError');
}

const nested = (depth: number) => '<r>'.repeat(depth) + 'x' + '</r>'.repeat(depth);

describe('parseXmlDocument', () => {
  it('unwraps CDATA without trimming and keeps every value a string', () => {
    const doc = parseXmlDocument(
      '<xml><Content><![CDATA[  two  spaces \n]]></Content><CreateTime>1715943329</CreateTime><Empty></Empty><Self/></xml>',
    );
    expect(doc).toEqual({ Content: '  two  spaces \n', CreateTime: '1715943329', Empty: '', Self: '' });
  });

  it('keeps a 17-digit MsgId exact (vector G)', () => {
    const g = message('G', 'push');
    expect(parseXmlDocument(g.plaintext)).toEqual(g.expectedFields);
  });

  it('drops the whitespace between elements but ignores the root name and attributes', () => {
    const e = message('E', 'push');
    expect(parseXmlDocument(e.plaintext)).toEqual({
      ToUserName: 'gh_97417a04a28d',
      FromUserName: 'o9AgO5Kd5ggOC-bXrbNODIiE3bGY',
      CreateTime: '1715943329',
      MsgType: 'event',
      Event: 'debug_demo',
      debug_str: 'hello world',
    });
    expect(
      parseXmlDocument('<?xml version="1.0"?>\n<root a="1"><b c="2">v</b><!-- note --></root >\n'),
    ).toEqual({ b: 'v' });
    expect(parseXmlDocument('<xml/><!-- c --><?pi x?>\n')).toEqual({});
  });

  it('gives nested records and arrays for repeated elements', () => {
    expect(parseXmlDocument('<xml><V><Id>1</Id><T><![CDATA[t]]></T></V><R>1</R><R>2</R></xml>')).toEqual({
      V: { Id: '1', T: 't' },
      R: ['1', '2'],
    });
  });

  it('leaves entity references undecoded (no entity processing)', () => {
    expect(parseXmlDocument('<xml><a>x &amp; y &#65;</a></xml>')).toEqual({ a: 'x &amp; y &#65;' });
  });

  it('refuses DOCTYPE and ENTITY declarations, including the billion-laughs form', () => {
    const laughs =
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><a>&lol2;</a></xml>';
    expect(reasonOf(() => parseXmlDocument(laughs))).toBe('doctype');
    expect(reasonOf(() => parseXmlDocument('<!doctype xml><xml/>'))).toBe('doctype');
    expect(reasonOf(() => parseXmlDocument('<xml><!ENTITY a "b"><a>1</a></xml>'))).toBe('doctype');
    expect(reasonOf(() => parseXmlDocument('<xml><!ELEMENT a ANY><a>1</a></xml>'))).toBe('malformed');
  });

  it('accepts the text "<!DOCTYPE" inside CDATA and comments (a user may send it)', () => {
    expect(
      parseXmlDocument(
        '<xml><!-- <!DOCTYPE x> --><Content><![CDATA[<!DOCTYPE html><!ENTITY x>]]></Content></xml>',
      ),
    ).toEqual({ Content: '<!DOCTYPE html><!ENTITY x>' });
  });

  it('limits depth: the root counts as 1, default 8', () => {
    expect(() => parseXmlDocument(nested(8))).not.toThrow();
    expect(reasonOf(() => parseXmlDocument(nested(9)))).toBe('too_deep');
    expect(reasonOf(() => parseXmlDocument(nested(10)))).toBe('too_deep');
    expect(reasonOf(() => parseXmlDocument(`<xml>${'<a><b/></a>'.repeat(3)}${nested(8)}</xml>`))).toBe(
      'too_deep',
    );
    expect(reasonOf(() => parseXmlDocument(nested(3), { maxDepth: 2 }))).toBe('too_deep');
    expect(parseXmlDocument(nested(3), { maxDepth: 3 })).toEqual({ r: { r: 'x' } });
  });

  it('stops very deep input early', () => {
    const started = performance.now();
    expect(reasonOf(() => parseXmlDocument(nested(100_000), { maxNodes: 1_000_000 }))).toBe('too_deep');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('counts tags, comments, CDATA sections and processing instructions against maxNodes (default 1,000)', () => {
    const doc = (inner: string) => `<xml>${inner}</xml>`; // the root's two tags count too
    expect(() => parseXmlDocument(doc('<a/>'.repeat(998)))).not.toThrow();
    expect(reasonOf(() => parseXmlDocument(doc('<a/>'.repeat(999))))).toBe('malformed');
    expect(() => parseXmlDocument(doc(`<a>${'<![CDATA[x]]>'.repeat(996)}</a>`))).not.toThrow();
    expect(reasonOf(() => parseXmlDocument(doc(`<a>${'<![CDATA[x]]>'.repeat(997)}</a>`)))).toBe('malformed');
    expect(reasonOf(() => parseXmlDocument(doc('<!-- -->'.repeat(999))))).toBe('malformed');
    expect(reasonOf(() => parseXmlDocument(doc('<?pi x?>'.repeat(999))))).toBe('malformed');
    expect(parseXmlDocument(doc('<a/>'.repeat(999)), { maxNodes: 1001 })).toEqual({ a: Array(999).fill('') });
    // a "<" inside CDATA is text, not a node
    expect(parseXmlDocument(doc(`<a><![CDATA[${'<b>'.repeat(2000)}]]></a>`)).a).toBe('<b>'.repeat(2000));
  });

  it('refuses a tag longer than 256 characters (WeChat writes no attributes)', () => {
    const name = `a${'b'.repeat(253)}`; // <name> is 256 characters
    expect(parseXmlDocument(`<xml><${name}>v</${name}></xml>`)).toEqual({ [name]: 'v' });
    expect(reasonOf(() => parseXmlDocument(`<xml><${name}b>v</${name}b></xml>`))).toBe('malformed');
    const attributes = Array.from({ length: 40 }, (_, i) => `a${i}="v"`).join(' ');
    expect(reasonOf(() => parseXmlDocument(`<xml><a ${attributes}/></xml>`))).toBe('malformed');
    expect(reasonOf(() => parseXmlDocument('<xml><a'))).toBe('malformed');
  });

  it('refuses hostile documents of 1 MiB in the scan before any parser runs', () => {
    // before the bounds, the parser and the validator spent 60–500 ms on each of these
    const hostile: [string, RegExp][] = [
      [`<xml>${'<a/>'.repeat(262_000)}</xml>`, /more than 1000 nodes/],
      [`<xml>${'<![CDATA[a]]>'.repeat(80_000)}</xml>`, /more than 1000 nodes/],
      [`<xml>${'<!---->'.repeat(140_000)}</xml>`, /more than 1000 nodes/],
      [`<xml><a ${'b="c" '.repeat(170_000)}/></xml>`, /a tag longer than 256 characters/],
    ];
    for (const [text, message] of hostile) expect(() => parseXmlDocument(text)).toThrow(message);
  });

  it('limits the size in UTF-8 bytes (default 1 MiB)', () => {
    const big = `<xml><a>${'x'.repeat(1024 * 1024)}</a></xml>`;
    expect(reasonOf(() => parseXmlDocument(big))).toBe('too_large');
    expect(parseXmlDocument(big, { maxBytes: 2 * 1024 * 1024 }).a).toHaveLength(1024 * 1024);
    const multiByte = `<xml><a>${'é'.repeat(60)}</a></xml>`; // 78 characters, 138 bytes
    expect(reasonOf(() => parseXmlDocument(multiByte, { maxBytes: 137 }))).toBe('too_large');
    expect(parseXmlDocument(multiByte, { maxBytes: 138 }).a).toBe('é'.repeat(60));
  });

  it('refuses malformed documents instead of guessing', () => {
    const cases = [
      '<xml><a>1</b></xml>',
      '<xml><a>1</a>',
      '<xml><a><![CDATA[open</a></xml>',
      '<xml/><second/>',
      '<xml/>trailing',
      '<xml/>junk<!-- c -->',
      '<xml><a>1</a></xml>\n</xml>',
      '<xml><a>1</a></xml>junk<!-- c --><?pi x?>',
      '<xml><a x=1>v</a></xml>',
      '<xml><1a>v</1a></xml>',
      '<xml><__proto__>v</__proto__></xml>',
      '<xml>a < b</xml>',
    ];
    for (const text of cases)
      expect([text, reasonOf(() => parseXmlDocument(text))]).toEqual([text, 'malformed']);
  });

  it('refuses what is not XML at all', () => {
    for (const text of ['', '   ', '{"Encrypt":"x"}', 'success'])
      expect(reasonOf(() => parseXmlDocument(text))).toBe('not_xml');
  });
});

describe('buildXml', () => {
  it('writes strings as CDATA and numbers bare, in order', () => {
    expect(buildXml({ ToUserName: 'gh_1', CreateTime: 1713424427, Content: 'hi' })).toBe(
      '<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1713424427</CreateTime><Content><![CDATA[hi]]></Content></xml>',
    );
    expect(buildXml({}, 'root')).toBe('<root></root>');
  });

  it('round-trips "]]>" and markup inside strings', () => {
    const tricky = 'a]]>b]]]>c<![CDATA[d]]>&amp;<x/>';
    const xml = buildXml({ Content: tricky });
    expect(parseXmlDocument(xml)).toEqual({ Content: tricky });
  });

  it('refuses names that would inject markup, and non-finite numbers', () => {
    expect(() => buildXml({ 'a><b': 'x' })).toThrow(TypeError);
    expect(() => buildXml({ a: 'x' }, 'x y')).toThrow(TypeError);
    expect(() => buildXml({ a: Number.NaN })).toThrow(TypeError);
  });
});
