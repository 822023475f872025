/** RFC 5424 parsing: header fields, NILVALUEs, structured data with escapes, MSG with and without BOM. */
import { AtnaError } from './atna-error';
import { parseRfc5424 } from './rfc5424-parser';

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function errorOf(input: string | Buffer): AtnaError {
  try {
    parseRfc5424(Buffer.isBuffer(input) ? input : Buffer.from(input, 'utf8'));
  } catch (e) {
    if (e instanceof AtnaError) return e;
    throw e;
  }
  throw new Error('expected an AtnaError');
}

describe('parseRfc5424', () => {
  it('parses an IHE ATNA message with a BOM-prefixed XML MSG', () => {
    const xml = '<AuditMessage>é</AuditMessage>';
    const frame = Buffer.concat([Buffer.from('<85>1 2024-03-14T09:26:53.120+01:00 ehr01.clinic.example.org EHR 2231 IHE+RFC-3881 - '), BOM, Buffer.from(xml)]);
    const m = parseRfc5424(frame);
    expect({ ...m, msg: m.msg.toString('utf8') }).toEqual({
      facility: 10,
      severity: 5,
      version: 1,
      timestamp: '2024-03-14T09:26:53.120+01:00',
      hostname: 'ehr01.clinic.example.org',
      appName: 'EHR',
      procId: '2231',
      msgId: 'IHE+RFC-3881',
      structuredData: [],
      msg: xml,
      msgHasBom: true,
    });
  });

  it('parses NILVALUE header fields and a message without BOM', () => {
    const m = parseRfc5424(Buffer.from('<13>1 - - - - - - hello'));
    expect([m.timestamp, m.hostname, m.appName, m.procId, m.msgId, m.msgHasBom, m.msg.toString()]).toEqual([null, null, null, null, null, false, 'hello']);
  });

  it('parses a message with no MSG at all', () => {
    const m = parseRfc5424(Buffer.from('<13>1 2024-01-01T00:00:00Z host app - - -'));
    expect(m.msg.length).toBe(0);
  });

  it('parses structured data with several elements and the three escapes', () => {
    const m = parseRfc5424(
      Buffer.from('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Appl\\"ic\\\\at\\]ion" eventID="1011"][examplePriority@32473 class="high"] msg'),
    );
    expect(m.structuredData).toEqual([
      { id: 'exampleSDID@32473', params: [{ name: 'iut', value: '3' }, { name: 'eventSource', value: 'Appl"ic\\at]ion' }, { name: 'eventID', value: '1011' }] },
      { id: 'examplePriority@32473', params: [{ name: 'class', value: 'high' }] },
    ]);
    expect(m.msg.toString()).toBe('msg');
  });

  it('keeps a backslash that escapes nothing, and UTF-8 in parameter values', () => {
    const m = parseRfc5424(Buffer.from('<13>1 - h a - - [x@1 p="C:\\temp ünï"]'));
    expect(m.structuredData[0].params[0].value).toBe('C:\\temp ünï');
  });

  it.each([
    ['no PRI', 'hello', 'PRI'],
    ['a PRI over 191', '<192>1 - - - - - -', 'PRI'],
    ['a PRI of four digits', '<0013>1 - - - - - -', 'PRI'],
    ['a missing VERSION', '<13> - - - - - -', 'VERSION'],
    ['a bad TIMESTAMP', '<13>1 2024-13-01T00:00:00Z h a - - -', 'TIMESTAMP'],
    ['a TIMESTAMP without zone', '<13>1 2024-01-01T00:00:00 h a - - -', 'TIMESTAMP'],
    ['a HOSTNAME over 255', `<13>1 - ${'h'.repeat(256)} a - - -`, 'HOSTNAME'],
    ['an APP-NAME over 48', `<13>1 - h ${'a'.repeat(49)} - - -`, 'APP-NAME'],
    ['a MSGID over 32', `<13>1 - h a p ${'m'.repeat(33)} -`, 'MSGID'],
    ['a header that stops early', '<13>1 - h a', 'PROCID'],
    ['no STRUCTURED-DATA', '<13>1 - h a p m', 'STRUCTURED-DATA'],
    ['an unterminated SD-ELEMENT', '<13>1 - h a p m [x@1 a="b"', 'STRUCTURED-DATA'],
    ['an unterminated PARAM-VALUE', '<13>1 - h a p m [x@1 a="b]', 'STRUCTURED-DATA'],
    ['garbage instead of STRUCTURED-DATA', '<13>1 - h a p m hello', 'STRUCTURED-DATA'],
    ['no space before MSG', '<13>1 - h a p m -x', 'MSG'],
  ])('rejects %s, naming the field', (_what, input, field) => {
    const e = errorOf(input);
    expect([e.stage, e.code, e.element]).toEqual(['syslog', 'syslog-malformed', field]);
  });

  it('rejects versions other than 1', () => {
    expect(errorOf('<13>2 - - - - - -').code).toBe('syslog-unsupported-version');
  });

  it('never quotes content in its errors', () => {
    const e = errorOf('<13>1 - host-PAT-7731 app proc msgid [x@1 patient="PAT-7731"');
    expect(e.message).not.toContain('PAT-7731');
  });
});
