/**
 * Hardened XML parsing for untrusted audit messages (fast-xml-parser v5). Defences, in order:
 * a byte-size bound before anything is read; outright rejection of any markup declaration
 * (`<!DOCTYPE`, `<!ENTITY`, ...: no DTD, hence no external entities and no entity expansion, so a
 * billion-laughs document is refused in one linear scan); a syntax check; then a parser with entity
 * processing off, a nesting bound, and only the five predefined XML entities and numeric character
 * references decoded here, in one pass that never expands anything recursively.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { AtnaError } from './atna-error';

export const DEFAULT_MAX_XML_BYTES = 64 * 1024;
export const MAX_XML_DEPTH = 32;

export interface SafeXmlOptions {
  /** Largest accepted document, in bytes (default 64 KiB). */
  maxBytes?: number;
  /** Element names that are always read as arrays (repeatable elements). */
  arrayElements?: ReadonlySet<string>;
}

/** Attribute names carry this prefix in the parsed tree, e.g. `@EventDateTime`. */
export const ATTR = '@';
export const TEXT = '#text';

/** Any `<!` that does not open a comment or a CDATA section is a markup declaration (DTD). */
const MARKUP_DECLARATION = /<!(?!--|\[CDATA\[)/;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const REFERENCE = /&(lt|gt|amp|quot|apos|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});/g;

export function decodeXmlReferences(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(REFERENCE, (whole, ref: string) => {
    if (ref[0] !== '#') return PREDEFINED[ref];
    const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    const allowed = cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
    return allowed ? String.fromCodePoint(cp) : whole;
  });
}

/** Parses an untrusted XML document into a plain tree, or throws an AtnaError (stage `xml`). */
export function parseUntrustedXml(input: Buffer | string, options: SafeXmlOptions = {}): Record<string, unknown> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_XML_BYTES;
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (size > maxBytes) throw new AtnaError('xml', 'xml-too-large', `XML document exceeds ${maxBytes} bytes`);
  let text = typeof input === 'string' ? input : input.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (MARKUP_DECLARATION.test(text)) {
    throw new AtnaError('xml', 'xml-dtd-forbidden', 'XML markup declarations (DOCTYPE, ENTITY, ...) are not accepted');
  }
  const syntax = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (syntax !== true) {
    throw new AtnaError('xml', 'xml-malformed', `XML is not well-formed (${syntax.err.code} at line ${syntax.err.line}, column ${syntax.err.col})`);
  }
  const arrays = options.arrayElements ?? new Set<string>();
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: ATTR,
    textNodeName: TEXT,
    removeNSPrefix: true,
    allowBooleanAttributes: false,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    processEntities: false,
    htmlEntities: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    maxNestedTags: MAX_XML_DEPTH,
    isArray: (name: string) => arrays.has(name),
    attributeValueProcessor: (_name: string, value: string) => decodeXmlReferences(value),
    tagValueProcessor: (_name: string, value: string) => decodeXmlReferences(value),
  });
  try {
    return parser.parse(text) as Record<string, unknown>;
  } catch (e) {
    const tooDeep = e instanceof Error && /nested/i.test(e.message);
    throw tooDeep
      ? new AtnaError('xml', 'xml-too-deep', `XML nests deeper than ${MAX_XML_DEPTH} elements`)
      : new AtnaError('xml', 'xml-malformed', 'XML could not be parsed');
  }
}
