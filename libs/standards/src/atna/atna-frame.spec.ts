/**
 * An ATNA syslog stream end to end, without sockets: RFC 5425 frames of RFC 5424 messages carrying
 * DICOM audit XML become canonical events; bad frames become counted errors and the rest go on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { AccessEvent } from '@app/core';
import { AtnaError } from './atna-error';
import { mapAtnaSyslogFrame } from './atna-frame';
import { DecodedFrameItem, OctetCountingFrameStream } from './octet-counting-frame-decoder';

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function xml(name: string): Buffer {
  return readFileSync(join(__dirname, 'fixtures', `${name}.xml`));
}

function syslog(msg: Buffer, header = '<85>1 2024-03-14T09:26:54Z ehr01.clinic.example.org EHR 2231 IHE+RFC-3881 -'): Buffer {
  return Buffer.concat([Buffer.from(`${header} `), BOM, msg]);
}

function frame(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `), message]);
}

describe('mapAtnaSyslogFrame', () => {
  it('maps a syslog message carrying a DICOM audit message, recording the syslog header', () => {
    const result = mapAtnaSyslogFrame(syslog(xml('patient-record-read')), { integration: 'ehr01' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.event).toMatchObject({ action: 'read', patient: { id: 'PAT-7731^^^&2.16.840.1.113883.3.72.5.9.1&ISO' }, source: { system: 'ehr01.clinic.example.org', integration: 'ehr01' } });
    expect(result.event.details).toMatchObject({ syslogHostname: 'ehr01.clinic.example.org', syslogAppName: 'EHR', syslogMsgId: 'IHE+RFC-3881', atnaMessageSha256: result.messageSha256 });
    expect(result.syslog).toMatchObject({ facility: 10, severity: 5, msgHasBom: true });
    expect('msg' in result.syslog).toBe(false);
  });

  it('gives the same event id whether or not the sender used a BOM or another header', () => {
    const a = mapAtnaSyslogFrame(syslog(xml('user-login')));
    const b = mapAtnaSyslogFrame(Buffer.concat([Buffer.from('<86>1 2024-03-14T10:00:00Z relay app - IHE+RFC-3881 - '), xml('user-login')]));
    expect(a.ok && b.ok && a.event.id === b.event.id).toBe(true);
  });

  it.each([
    ['a malformed syslog header', Buffer.from('hello <AuditMessage/>'), 'syslog', 'syslog-malformed'],
    ['an empty MSG', Buffer.from('<85>1 - h a - - -'), 'syslog', 'syslog-empty-message'],
    ['a DTD in the XML', syslog(Buffer.from('<!DOCTYPE a [<!ENTITY b "PAT-7731">]><AuditMessage>&b;</AuditMessage>')), 'xml', 'xml-dtd-forbidden'],
    ['XML that is not an audit message', syslog(Buffer.from('<Patient id="PAT-7731"/>')), 'mapping', 'not-an-audit-message'],
  ])('returns an error for %s without PHI', (_what, input, stage, code) => {
    const result = mapAtnaSyslogFrame(input);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toBeInstanceOf(AtnaError);
    expect([result.error.stage, result.error.code]).toEqual([stage, code]);
    expect(JSON.stringify(result.error.toJSON())).not.toContain('PAT-7731');
  });
});

describe('an ATNA connection, decoded and mapped', () => {
  it('maps good frames and counts bad ones, in order, until a truncated frame ends the input', async () => {
    const wire = Buffer.concat([
      frame(syslog(xml('user-login'))),
      frame(syslog(Buffer.from('<AuditMessage><broken></AuditMessage>'))),
      frame(syslog(xml('dicom-instances-accessed'))),
      frame(syslog(xml('user-login-failure'))).subarray(0, 100),
    ]);
    const chunks = Array.from({ length: Math.ceil(wire.length / 333) }, (_, i) => wire.subarray(i * 333, (i + 1) * 333));
    const events: AccessEvent[] = [];
    const errors: string[] = [];
    for await (const item of Readable.from(chunks).pipe(new OctetCountingFrameStream())) {
      const decoded = item as DecodedFrameItem;
      if (decoded.type === 'framing-error') {
        errors.push(`framing:${decoded.code}`);
        continue;
      }
      const result = mapAtnaSyslogFrame(decoded.message);
      if (result.ok) events.push(result.event);
      else errors.push(`${result.error.stage}:${result.error.code}`);
    }
    expect(events.map((e) => e.action)).toEqual(['login', 'read']);
    expect(errors).toEqual(['xml:xml-malformed', 'framing:truncated']);
  });
});
