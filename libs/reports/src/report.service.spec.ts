/**
 * The report use case with an in-memory store and sink: rows in every format, streamed page by
 * page (bytes leave before the store is exhausted), audited before anything is read, and signed so
 * that flipping any single byte of the result fails verification.
 */
import { generateKeyPairSync } from 'node:crypto';
import { AccessAuditEntry, AccessEvent } from '@app/core';
import { keyIdFor } from '@app/ledger';
import type { EventStore, EventStreamQuery, StoredRecord } from '@app/storage';
import { HtmlReportTemplates, defaultReportTemplatesDir } from './html-report-templates';
import { UnavailableIntegritySource } from './report-integrity';
import { parseReportQuery } from './report-request';
import { REPORT_COLUMNS } from './report-row';
import { ReportSignatureBlock, verifySignedReport } from './report-signature';
import { ReportResponseMeta, ReportService, ReportSink } from './report.service';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const keyId = keyIdFor(publicKey);
const keys = new Map([[keyId, publicKey.export({ type: 'spki', format: 'pem' }).toString()]]);

function record(seq: number, over: Partial<AccessEvent> = {}): StoredRecord {
  const event: AccessEvent = {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    occurredAt: new Date(Date.UTC(2026, 0, 1) + seq * 60_000).toISOString(),
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'dr-a', type: 'user', role: 'physician' },
    patient: { id: 'P1' },
    resource: { type: 'Observation' },
    purpose: 'TREAT',
    source: { system: 'ehr' },
    ...over,
  };
  return { position: seq, chain: 'data_access', seq, receivedAt: event.occurredAt, event, eventJson: JSON.stringify(event), prevHash: Buffer.alloc(32), hash: Buffer.alloc(32) };
}

/** A store that yields `pages` pages and records how far it was read. */
function fakeStore(pages: StoredRecord[][], log: string[]): EventStore {
  return {
    async *stream(q: EventStreamQuery) {
      log.push(`stream ${JSON.stringify({ patient: q.patient, outcomes: q.outcomes, breakGlass: q.breakGlass, excludeChain: q.excludeChain })}`);
      for (let i = 0; i < pages.length; i++) {
        log.push(`page ${i}`);
        yield pages[i];
      }
    },
  } as unknown as EventStore;
}

class MemorySink implements ReportSink {
  chunks: Buffer[] = [];
  meta?: ReportResponseMeta;
  block?: ReportSignatureBlock;
  constructor(private readonly log: string[]) {}
  start(meta: ReportResponseMeta) {
    this.meta = meta;
    this.log.push('start');
  }
  async write(chunk: Buffer) {
    this.chunks.push(chunk);
    this.log.push('write');
  }
  finish(block: ReportSignatureBlock) {
    this.block = block;
    this.log.push('finish');
  }
  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const templates = new HtmlReportTemplates(defaultReportTemplatesDir());

function service(store: EventStore, audit: { record(e: AccessAuditEntry): void | Promise<void> }) {
  return new ReportService(store, new UnavailableIntegritySource('no checkpoints in this test'), () => ({ keyId, privateKey }), templates, audit, {
    pageSize: 2,
    now: () => new Date('2026-05-01T08:00:00.000Z'),
  });
}

describe('ReportService', () => {
  it('audits first, then streams header, one chunk per page, closing part and signature', async () => {
    const log: string[] = [];
    const audit: AccessAuditEntry[] = [];
    const pages = [[record(0), record(1)], [record(2)]];
    const sink = new MemorySink(log);
    const s = service(fakeStore(pages, log), { record: (e) => void (audit.push(e), log.push('audit')) });
    const result = await s.generate(parseReportQuery('patient-access', { patient: 'P1', format: 'json' }), { sub: 'u-1', role: 'compliance_officer' }, sink);
    expect(log).toEqual([
      'audit',
      'start',
      'write', // header
      'stream {"patient":"P1","excludeChain":"access_log"}',
      'page 0',
      'write',
      'page 1',
      'write',
      'write', // summary + integrity
      'write', // signature block
      'finish',
    ]);
    expect(audit).toEqual([
      {
        action: 'report.generate',
        actor: { sub: 'u-1', role: 'compliance_officer', via: undefined },
        at: '2026-05-01T08:00:00.000Z',
        outcome: 'success',
        target: { kind: 'patient-access', format: 'json', patient: 'P1', actorId: null, from: null, to: null },
      },
    ]);
    expect(sink.meta).toMatchObject({ contentType: 'application/json; charset=utf-8', fileName: 'patient-access-20260501T080000Z.json', keyId });
    const doc = JSON.parse(sink.body.toString('utf8'));
    expect(doc.rows.map((r: { seq: number }) => r.seq)).toEqual([0, 1, 2]);
    expect(doc.summary).toEqual({
      rows: 3,
      firstOccurredAt: '2026-01-01T00:00:00.000Z',
      lastOccurredAt: '2026-01-01T00:02:00.000Z',
      chains: [{ chain: 'data_access', fromSeq: 0, toSeq: 2, records: 3 }],
    });
    expect(doc.integrity.checkpoints).toEqual({ available: false, reason: 'no checkpoints in this test' });
    expect(result).toMatchObject({ rows: 3, reportSha256: sink.block!.reportSha256, keyId });
    expect(result.bytes).toBe(sink.block!.bodyBytes);
  });

  it('reads nothing and writes nothing when the access cannot be recorded', async () => {
    const log: string[] = [];
    const sink = new MemorySink(log);
    const s = service(fakeStore([[record(0)]], log), {
      record: () => {
        throw new Error('trail down');
      },
    });
    await expect(s.generate(parseReportQuery('user-activity', { actor: 'dr-a' }), { sub: 'u', role: 'compliance_officer' }, sink)).rejects.toThrow('trail down');
    expect(log).toEqual([]);
  });

  it('asks the store for exactly the kind of records each report lists', async () => {
    for (const [kind, expected] of [
      ['break-glass', '{"breakGlass":true,"excludeChain":"access_log"}'],
      ['failed-access', '{"outcomes":["failure","denied"],"excludeChain":"access_log"}'],
    ] as const) {
      const log: string[] = [];
      await service(fakeStore([], log), { record: () => undefined }).generate(parseReportQuery(kind, {}), { sub: 'u', role: 'r' }, new MemorySink([]));
      expect(log[0]).toBe(`stream ${expected}`);
    }
  });

  describe.each(['json', 'csv', 'html'] as const)('%s', (format) => {
    let body: Buffer;
    beforeAll(async () => {
      const sink = new MemorySink([]);
      const pages = [
        [record(0, { details: { department: 'Cardiology' } }), record(1, { actor: { id: '=HYPERLINK("x")', type: 'user' }, outcome: 'denied', purpose: undefined })],
        [record(2, { action: 'break_glass', purpose: 'EMERGENCY', resource: { type: 'Patient' } })],
      ];
      await service(fakeStore(pages, []), { record: () => undefined }).generate(parseReportQuery('patient-access', { patient: 'P1', format }), { sub: 'u', role: 'compliance_officer' }, sink);
      body = sink.body;
    });

    it('verifies, and flipping any single byte makes it fail', () => {
      expect(verifySignedReport(body, keys)).toMatchObject({ ok: true, format });
      for (let i = 0; i < body.length; i++) {
        const tampered = Buffer.from(body);
        tampered[i] ^= 0x01;
        const verdict = verifySignedReport(tampered, keys);
        if (verdict.ok) throw new Error(`flipping byte ${i} of the ${format} report went unnoticed`);
      }
    });

    it('fails under another key, and when cut short or extended', () => {
      const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
      expect(verifySignedReport(body, new Map([[keyId, other]]))).toMatchObject({ ok: false, reason: `the signature does not verify under key ${keyId}` });
      expect(verifySignedReport(body, new Map())).toMatchObject({ ok: false, reason: `no public key with id ${keyId}` });
      expect(verifySignedReport(body.subarray(0, body.length - 1), keys).ok).toBe(false);
      expect(verifySignedReport(Buffer.concat([body, Buffer.from('\n')]), keys).ok).toBe(false);
      expect(verifySignedReport(body.subarray(0, 200), keys).ok).toBe(false);
    });

    it('shows the rows with readable words', () => {
      const text = body.toString('utf8');
      if (format === 'csv') {
        const lines = text.split('\n');
        expect(lines[0]).toBe(REPORT_COLUMNS.join(','));
        expect(lines[2]).toContain(`"'=HYPERLINK(""x"")"`); // spreadsheet formula neutralised
        expect(lines[2]).toContain(',denied,refused,');
      } else if (format === 'html') {
        expect(text).toContain('<span data-field="orgUnit">Cardiology</span>');
        expect(text).toContain('<span data-field="actorId">&#x3D;HYPERLINK(&quot;x&quot;)</span>');
        expect(text).toContain('class="break-glass"');
        expect(text).toContain('<span data-field="purposeText">emergency treatment</span>');
      } else {
        const doc = JSON.parse(text);
        expect(doc.rows[1]).toMatchObject({ actorId: '=HYPERLINK("x")', outcomeText: 'refused', purposeText: 'not stated' });
        expect(doc.rows[2]).toMatchObject({ breakGlass: true, actionText: 'used emergency access (break-glass)', resourceText: 'demographics' });
      }
    });
  });
});
