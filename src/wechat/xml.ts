import { XMLParser, XMLValidator } from 'fast-xml-parser';

// The reader for everything WeChat sends as XML. WeChat wraps every string in CDATA, so values are returned
// exactly as written: CDATA unwrapped, nothing trimmed, numbers left as text (MsgId exceeds 2^53) and entity
// references such as `&amp;` left undecoded (no entity processing at all, decision for safety over fidelity).

export type XmlErrorReason = 'too_large' | 'doctype' | 'malformed' | 'too_deep' | 'not_xml';

export class XmlError extends Error {
  override readonly name = 'XmlError';
  constructor(
    readonly reason: XmlErrorReason,
    message: string = `xml: ${reason}`,
  ) {
    super(message);
  }
}

export type XmlValue = string | XmlRecord;
export interface XmlRecord {
  [k: string]: XmlValue | XmlValue[];
}

export interface ParseXmlOptions {
  maxBytes?: number;
  maxDepth?: number;
  /** tags, processing instructions, comments and CDATA sections, together */
  maxNodes?: number;
}

export const DEFAULT_MAX_BYTES = 1024 * 1024;
const DEFAULT_MAX_DEPTH = 8;
/** WeChat's documents have a few dozen nodes; 1,000 bound a parse to a few milliseconds */
const DEFAULT_MAX_NODES = 1000;
/** `<ComponentVerifyTicket>`, `<?xml version="1.0" encoding="utf-8"?>`: WeChat's longest are far shorter */
const MAX_TAG_CHARS = 256;
const TEXT = '#text';

/** True when the UTF-8 encoding of `text` is longer than `max` bytes, without encoding short texts. */
export function exceedsUtf8Bytes(text: string, max: number): boolean {
  if (text.length > max) return true;
  if (text.length * 3 <= max) return false;
  return Buffer.byteLength(text, 'utf8') > max;
}

function isBlank(text: string): boolean {
  return text.trim() === '';
}

// A DOCTYPE (and with it every <!ENTITY) may only stand outside CDATA sections and comments, where a user's
// message text may legitimately contain "<!DOCTYPE html>". Every other `<!` construct is refused too. The same
// pass bounds the work of the parser and the validator, which spend microseconds on every node and attribute:
// 1 MiB of `<a/>` (a quarter of a million tags) held the event loop for half a second before any signature
// was checked. So it counts the nodes (tags, processing instructions, comments and CDATA sections) and refuses
// a tag longer than WeChat's own ever are (it writes no attributes).
function scanMarkup(text: string, maxNodes: number): void {
  let nodes = 0;
  let at = text.indexOf('<');
  while (at !== -1) {
    if (++nodes > maxNodes) throw new XmlError('malformed', `xml: more than ${maxNodes} nodes`);
    let end: number;
    if (text.startsWith('<!', at)) {
      if (text.startsWith('<![CDATA[', at)) end = text.indexOf(']]>', at + 9);
      else if (text.startsWith('<!--', at)) end = text.indexOf('-->', at + 4);
      else {
        const head = text.slice(at, at + 9).toUpperCase();
        if (head.startsWith('<!DOCTYPE') || head.startsWith('<!ENTITY')) throw new XmlError('doctype');
        throw new XmlError('malformed', 'xml: unexpected <! declaration');
      }
      if (end === -1) throw new XmlError('malformed', 'xml: unterminated CDATA section or comment');
      at = text.indexOf('<', end + 3);
      continue;
    }
    end = text.indexOf('>', at + 1);
    if (end === -1 || end - at > MAX_TAG_CHARS)
      throw new XmlError('malformed', `xml: a tag longer than ${MAX_TAG_CHARS} characters`);
    at = text.indexOf('<', end + 1);
  }
}

// Drops the whitespace between elements (kept by trimValues:false) and measures the element depth.
function clean(record: XmlRecord, depth: number, maxDepth: number): XmlRecord {
  if (depth > maxDepth) throw new XmlError('too_deep');
  const text = record[TEXT];
  if (typeof text === 'string' && isBlank(text)) delete record[TEXT];
  for (const [key, value] of Object.entries(record)) {
    if (key === TEXT) continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      if (typeof item === 'string') {
        if (depth + 1 > maxDepth) throw new XmlError('too_deep');
      } else clean(item, depth + 1, maxDepth);
    }
  }
  return record;
}

// Validator and parser both let text after the root element pass silently, so the end is checked here:
// after trailing comments and processing instructions, the document must close its root element.
function endsWithRoot(text: string, rootName: string, selfClosing: boolean): boolean {
  let end = text.trimEnd();
  for (;;) {
    const open = end.endsWith('-->')
      ? end.lastIndexOf('<!--')
      : end.endsWith('?>')
        ? end.lastIndexOf('<?')
        : -2;
    if (open === -2) break;
    if (open === -1) return false;
    end = end.slice(0, open).trimEnd();
  }
  if (selfClosing && end.endsWith('/>')) return true;
  const close = end.lastIndexOf('</');
  return close !== -1 && end.endsWith('>') && end.slice(close + 2, -1).trim() === rootName;
}

function parserFor(maxDepth: number): XMLParser {
  return new XMLParser({
    ignoreAttributes: true,
    parseTagValue: false,
    trimValues: false,
    processEntities: false,
    htmlEntities: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    jPath: false,
    // A backstop that stops deep input early; the exact limit is enforced by clean().
    maxNestedTags: maxDepth,
  });
}

const defaultParser = parserFor(DEFAULT_MAX_DEPTH);

/** Returns the children of the root element; the root's own name is not checked. */
export function parseXmlDocument(text: string, opts: ParseXmlOptions = {}): XmlRecord {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (typeof text !== 'string') throw new XmlError('not_xml');
  if (exceedsUtf8Bytes(text, maxBytes)) throw new XmlError('too_large');
  if (!text.trimStart().startsWith('<')) throw new XmlError('not_xml');
  scanMarkup(text, opts.maxNodes ?? DEFAULT_MAX_NODES);

  let doc: Record<string, unknown>;
  try {
    // Parsing first lets maxNestedTags stop deeply nested input before the validator walks all of it.
    doc = (maxDepth === DEFAULT_MAX_DEPTH ? defaultParser : parserFor(maxDepth)).parse(text);
  } catch (err) {
    if (err instanceof Error && /nested tags/i.test(err.message)) throw new XmlError('too_deep');
    throw new XmlError('malformed', `xml: ${err instanceof Error ? err.message : 'unparseable'}`);
  }
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new XmlError('malformed', `xml: ${valid.err.msg}`);

  const top = Object.entries(doc).filter(([k, v]) => !(k === TEXT && typeof v === 'string' && isBlank(v)));
  const root = top[0];
  if (top.length !== 1 || root === undefined || root[0] === TEXT || Array.isArray(root[1])) {
    throw new XmlError('malformed', 'xml: exactly one root element expected');
  }
  const value = root[1];
  if (!endsWithRoot(text, root[0], value === '')) {
    throw new XmlError('malformed', 'xml: text after the root element');
  }
  if (typeof value === 'string') return isBlank(value) ? {} : { [TEXT]: value };
  return clean(value as XmlRecord, 1, maxDepth);
}

const XML_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function cdata(value: string): string {
  // "]]>" cannot appear inside one section: close after "]]" and reopen before ">".
  return '<![CDATA[' + value.replaceAll(']]>', ']]]]><![CDATA[>') + ']]>';
}

/** WeChat-style XML: strings as CDATA, numbers bare, in the key order given. */
export function buildXml(fields: Record<string, string | number>, root = 'xml'): string {
  if (!XML_NAME.test(root)) throw new TypeError(`invalid XML element name: ${root}`);
  let out = `<${root}>`;
  for (const [name, value] of Object.entries(fields)) {
    if (!XML_NAME.test(name)) throw new TypeError(`invalid XML element name: ${name}`);
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new TypeError(`non-finite number for ${name}`);
      out += `<${name}>${value}</${name}>`;
    } else out += `<${name}>${cdata(value)}</${name}>`;
  }
  return out + `</${root}>`;
}
