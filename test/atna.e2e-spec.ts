/**
 * IHE ATNA receiver end to end with node:tls as the sender (fast, always runs): RFC 5425 frames of
 * RFC 5424 messages carrying DICOM audit XML, sent over mutual TLS with the sample integration's
 * certificate, arrive chained and queryable with source.integration from the certificate; clients
 * without a valid certificate are refused; malformed frames, malformed XML, a billion-laughs
 * document, oversize, truncated and unframed input are counted and never stop the listener;
 * thousands of frames on one connection are stored with back-pressure; shutdown closes cleanly.
 */
import type { AccessEvent } from '@app/core';
import { mapAtnaSyslogFrame } from '@app/standards';
import { createCertificateAuthority, issueClientCertificate } from '@app/security';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { AtnaListener } from '../apps/api/src/atna/atna-listener.service';
import {
  ATNA_EMITTER_FIXTURES,
  ATNA_FIXTURES,
  BILLION_LAUGHS,
  atnaFixture,
  atnaOverrides,
  frame,
  metricValue,
  numberedAuditXml,
  sampleIdentity,
  syslogMessage,
  tlsSend,
  waitFor,
} from './support/atna';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestApp, startTestApp, tempDataDir } from './support/test-app';

interface EventView {
  event: { id: string; source: { integration?: string }; details?: Record<string, unknown> } & Record<string, unknown>;
  receivedAt: string;
  receipt: { id: string; chain: string; seq: number; hash: string };
}

describe('IHE ATNA receiver (node:tls client, mutual TLS)', () => {
  let t: TestApp;
  let port: number;
  let analyst: ApiClient;
  let compliance: ApiClient;

  beforeAll(async () => {
    t = await startTestApp(atnaOverrides());
    port = t.app.get(AtnaListener).address()!.port;
    analyst = await t.client('soc_analyst');
    compliance = await t.client('compliance_officer');
  });
  afterAll(() => t.close());

  const metrics = async () => (await analyst.request('GET', '/metrics')).body;
  const getEvent = async (id: string): Promise<EventView | undefined> => {
    const res = await compliance.request('GET', `/v1/events/${id}`); // identified view (real patient ids)
    return res.status === 200 ? (JSON.parse(res.body) as EventView) : undefined;
  };

  /** Sends the messages in one connection; the events they map to and, once stored, their views, in order. */
  const sendAndRead = async (messages: Buffer[]): Promise<{ expected: AccessEvent[]; views: EventView[] }> => {
    const expected = messages.map((m) => {
      const r = mapAtnaSyslogFrame(m, { integration: 'sample-ehr' });
      if (!r.ok) throw new Error(`fixture does not map: ${r.error.code}`);
      return r.event;
    });
    const outcome = await tlsSend(port, sampleIdentity(t.dataDir), Buffer.concat(messages.map(frame)));
    expect(outcome.error).toBeUndefined();
    const views: EventView[] = [];
    for (const e of expected) views.push(await waitFor(() => getEvent(e.id)));
    return { expected, views };
  };

  it('stores every fixture sent in one connection, chained, queryable, with the certificate integration', async () => {
    const { expected, views } = await sendAndRead(ATNA_FIXTURES.map((name, i) => syslogMessage(atnaFixture(name), { bom: i % 2 === 0 })));
    for (let i = 0; i < expected.length; i++) {
      expect(views[i].event).toEqual(JSON.parse(JSON.stringify(expected[i])));
      expect(views[i].event.source.integration).toBe('sample-ehr');
      expect(views[i].event.details?.atnaMessageSha256).toMatch(/^[0-9a-f]{64}$/);
    }
    // Frames that arrived together went into one durable batch: one transaction, one receivedAt.
    expect(new Set(views.map((v) => v.receivedAt)).size).toBe(1);
    // Chained contiguously per chain, in frame order.
    const byChain = new Map<string, number[]>();
    for (const v of views) byChain.set(v.receipt.chain, [...(byChain.get(v.receipt.chain) ?? []), v.receipt.seq]);
    for (const seqs of byChain.values()) for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1] + 1);

    // Queryable through the contract's filters.
    const login = expected.find((e) => e.action === 'login')!;
    const byActor = JSON.parse((await analyst.request('GET', `/v1/events?actor=${encodeURIComponent(login.actor.id)}&category=authentication`)).body);
    expect(byActor.events.map((e: EventView) => e.event.id)).toContain(login.id);
    const read = expected.find((e) => e.patient?.id?.startsWith('PAT-7731'))!;
    const byPatient = JSON.parse((await compliance.request('GET', `/v1/events?patient=${encodeURIComponent(read.patient!.id)}`)).body);
    expect(byPatient.events.map((e: EventView) => e.event.id)).toContain(read.id);

    // Known deviations (upper-case booleans, no outcome) were accepted, normalized and noted (issue 21).
    const lenient = views[ATNA_FIXTURES.indexOf('lenient-instances-transferred')].event;
    expect(lenient).toMatchObject({ category: 'data_modification', action: 'transfer', outcome: 'success', actor: { id: 'CT_SCANNER_2' }, patient: { id: 'RAD-40417' } });
    expect(lenient.details).toMatchObject({ outcomeAssumed: true });
    const dcm4chee = views[ATNA_FIXTURES.indexOf('dcm4chee-patient-record-update')].event;
    expect(dcm4chee).toMatchObject({ category: 'data_modification', action: 'update', outcome: 'success', actor: { id: 'registrar.kim', ip: '10.20.30.41' }, source: { system: 'dcm4chee-arc' } });
    expect(dcm4chee.patient).toBeDefined();
    expect(dcm4chee.details?.dataQuality).toBeUndefined();
    expect(String(lenient.details?.dataQuality).split(' ').sort()).toEqual(
      ['ActiveParticipant[0]@UserIsRequestor:case', 'ActiveParticipant[1]@UserIsRequestor:case', 'EventIdentification@EventOutcomeIndicator:missing'].sort(),
    );

    const verify = JSON.parse((await compliance.request('GET', '/v1/integrity/verify')).body);
    expect(verify).toMatchObject({ ok: true, break: null });
  });

  it('real emitters (dcm4chee-arc, IPF, OpenHIM): each message is stored mapped as its sender meant it, searches redacted for analysts', async () => {
    const { expected, views } = await sendAndRead(ATNA_EMITTER_FIXTURES.map((name) => syslogMessage(atnaFixture(name))));
    for (let i = 0; i < expected.length; i++) expect(views[i].event).toEqual(JSON.parse(JSON.stringify(expected[i])));
    // Who, whom, what, outcome, source and the search, as each sends them (issue 21).
    const view = (name: string) => views[ATNA_EMITTER_FIXTURES.indexOf(name)].event;
    expect(view('dcm4chee-qido-query')).toMatchObject({ action: 'query', outcome: 'success', actor: { id: 'tech.halvorsen', type: 'user', ip: '10.40.2.17' }, source: { system: 'dcm4chee-arc' } });
    expect(view('dcm4chee-qido-query').query).toEqual({ text: '/dcm4chee-arc/aets/DCM4CHEE/rs/patientsPatientName=HALVORSEN*&includefield=all&offset=0&limit=21&orderby=PatientName' });
    expect(view('dcm4chee-cfind-query')).toMatchObject({ action: 'query', actor: { id: 'VIEWSTATION7', type: 'service' }, resource: { type: 'SOPClass', id: '1.2.840.10008.5.1.4.1.2.2.1' } });
    expect(view('dcm4chee-pdq-query')).toMatchObject({ action: 'query', actor: { id: '10.40.2.23', type: 'user' }, patient: { id: 'PDQ-30117^^^HIS&1.2.40.0.13.1.1.77&ISO' } });
    expect((view('dcm4chee-pdq-query').query as { text: string }).text).toContain('QPD|IHE PDQ Query|');
    expect(view('ipf-pdqm-query')).toMatchObject({ action: 'query', actor: { id: 'mobile-intake-app', type: 'service', ip: '172.20.14.9' }, source: { system: 'IPF' }, query: { text: 'https://hie.example.org/fhir/Patient?family=Oyelaran&given=Folake&gender=female' } });
    expect(view('openhim-user-login')).toMatchObject({ category: 'authentication', action: 'login', outcome: 'success', actor: { id: 'thandi.mokoena@moh.example.org', type: 'user', role: 'admin' }, source: { system: 'openhim' } });
    // An analyst sees each search redacted: the FHIR and QIDO paths with parameter names, anything else whole.
    const asAnalyst = async (name: string) => JSON.parse((await analyst.request('GET', `/v1/events/${expected[ATNA_EMITTER_FIXTURES.indexOf(name)].id}`)).body).event.query;
    expect(await asAnalyst('ipf-pdqm-query')).toEqual({ text: '*/Patient?family=*&given=*&gender=*' });
    expect(await asAnalyst('dcm4chee-qido-query')).toEqual({ text: '*/*/*/*/patients?PatientName=*&includefield=*&offset=*&limit=*&orderby=*' });
    expect(await asAnalyst('dcm4chee-cfind-query')).toEqual({ text: '[redacted search]' });
    expect(await asAnalyst('dcm4chee-pdq-query')).toEqual({ text: '[redacted search]' });

    const verify = JSON.parse((await compliance.request('GET', '/v1/integrity/verify')).body);
    expect(verify).toMatchObject({ ok: true, break: null });
  });

  it('a re-sent message is stored once (same id, original receipt)', async () => {
    const m = syslogMessage(atnaFixture('user-login'));
    const id = (mapAtnaSyslogFrame(m, { integration: 'sample-ehr' }) as { event: { id: string } }).event.id;
    const first = await waitFor(() => getEvent(id));
    await tlsSend(port, sampleIdentity(t.dataDir), frame(m));
    const marker = syslogMessage(numberedAuditXml(1, 'RESEND'));
    await tlsSend(port, sampleIdentity(t.dataDir), frame(marker));
    await waitFor(() => getEvent((mapAtnaSyslogFrame(marker, { integration: 'sample-ehr' }) as { event: { id: string } }).event.id));
    expect((await getEvent(id))!.receipt).toEqual(first.receipt);
  });

  it('malformed input is counted and skipped while the good messages around it are stored', async () => {
    const before = await metrics();
    const good = [1, 2, 3].map((n) => syslogMessage(numberedAuditXml(n, 'MIXED')));
    const payload = Buffer.concat([
      frame(good[0]),
      frame(syslogMessage(BILLION_LAUGHS)), // xml-dtd-forbidden: no entity is ever expanded
      frame(syslogMessage('<AuditMessage><EventIdentification>')), // xml-malformed
      frame('this is not RFC 5424'), // syslog-malformed
      frame(syslogMessage('<Foo/>')), // not-an-audit-message
      frame(good[1]),
      frame(Buffer.alloc(70 * 1024, 0x41)), // oversize (> 64 KiB): skipped, not buffered
      frame(good[2]),
    ]);
    const outcome = await tlsSend(port, sampleIdentity(t.dataDir), payload);
    expect(outcome.closedByServer).toBe(false);
    for (const m of good) await waitFor(() => getEvent((mapAtnaSyslogFrame(m, { integration: 'sample-ehr' }) as { event: { id: string } }).event.id));

    const after = await waitFor(async () => {
      const text = await metrics();
      return metricValue(text, 'audit_atna_errors_total', { code: 'oversize' }) > metricValue(before, 'audit_atna_errors_total', { code: 'oversize' }) ? text : undefined;
    });
    const delta = (labels: Record<string, string>) => metricValue(after, 'audit_atna_errors_total', labels) - metricValue(before, 'audit_atna_errors_total', labels);
    expect(delta({ stage: 'xml', code: 'xml-dtd-forbidden' })).toBe(1);
    expect(delta({ stage: 'xml', code: 'xml-malformed' })).toBe(1);
    expect(delta({ stage: 'syslog', code: 'syslog-malformed' })).toBe(1);
    expect(delta({ stage: 'framing', code: 'oversize' })).toBe(1);
    expect(delta({ code: 'not-an-audit-message' })).toBe(1);
    expect(metricValue(after, 'audit_atna_messages_total', { result: 'rejected' }) - metricValue(before, 'audit_atna_messages_total', { result: 'rejected' })).toBe(5);

    // Logged by code and element only: no message content (no patient ids, no host names).
    const logs = t.logLines.join('\n');
    expect(logs).toContain('xml-dtd-forbidden');
    expect(logs).not.toContain('PAT-MIXED');
    expect(logs).not.toContain('ehr01.clinic.example.org');
    expect(logs).not.toContain('dr.house');
  });

  it('a truncated frame and unframed garbage close only their own connection; the next connection is served', async () => {
    const id = sampleIdentity(t.dataDir);
    const before = await metrics();
    const beforeTruncated = (mapAtnaSyslogFrame(syslogMessage(numberedAuditXml(1, 'TRUNC')), { integration: 'sample-ehr' }) as { event: { id: string } }).event.id;
    // A good frame, then one that declares 500 bytes and stops after 20.
    const truncated = Buffer.concat([frame(syslogMessage(numberedAuditXml(1, 'TRUNC'))), Buffer.from('500 <85>1 2024-03-14T0')]);
    const t1 = await tlsSend(port, id, truncated);
    expect(t1.error).toBeUndefined();
    await waitFor(() => getEvent(beforeTruncated));

    // Not octet-counted at all (non-transparent framing): framing is lost, the server closes the connection.
    const t2 = await tlsSend(port, id, Buffer.from('<85>1 2024-03-14T09:26:53Z host app - - - hello\n'), { keepOpenMs: 5000 });
    expect(t2.closedByServer || t2.error !== undefined).toBe(true);

    const after = await waitFor(async () => {
      const text = await metrics();
      return metricValue(text, 'audit_atna_errors_total', { code: 'bad-length' }) > metricValue(before, 'audit_atna_errors_total', { code: 'bad-length' }) ? text : undefined;
    });
    expect(metricValue(after, 'audit_atna_errors_total', { stage: 'framing', code: 'truncated' }) - metricValue(before, 'audit_atna_errors_total', { stage: 'framing', code: 'truncated' })).toBe(1);
    expect(metricValue(after, 'audit_atna_connections_total', { result: 'framing_closed' })).toBeGreaterThanOrEqual(2);

    const next = syslogMessage(numberedAuditXml(2, 'TRUNC'));
    await tlsSend(port, id, frame(next));
    await waitFor(() => getEvent((mapAtnaSyslogFrame(next, { integration: 'sample-ehr' }) as { event: { id: string } }).event.id));
  });

  it('refuses clients without a valid certificate (none, unknown CA, expired) and stores nothing from them', async () => {
    const ca = sampleIdentity(t.dataDir).ca;
    const before = await metrics();
    const foreignCa = await createCertificateAuthority();
    const foreign = await issueClientCertificate(t.dataDir, 'sample-ehr', { ca: foreignCa });
    const expired = await issueClientCertificate(t.dataDir, 'sample-ehr', { expired: true });
    const attempts: Array<[string, { cert?: string; key?: string }]> = [
      ['none', {}],
      ['foreign CA', { cert: foreign.certPem, key: foreign.keyPem }],
      ['expired', { cert: expired.certPem, key: expired.keyPem }],
    ];
    const ids: string[] = [];
    for (const [label, creds] of attempts) {
      const m = syslogMessage(numberedAuditXml(1, `REFUSED-${label.replace(/\s/g, '')}`));
      ids.push((mapAtnaSyslogFrame(m, { integration: 'sample-ehr' }) as { event: { id: string } }).event.id);
      const outcome = await tlsSend(port, { ca, ...creds }, frame(m), { keepOpenMs: 300 });
      // TLS 1.3 lets the client finish its side first; the server's alert then ends the connection.
      expect(outcome.error !== undefined || outcome.closedByServer).toBe(true);
    }
    const after = await metrics();
    expect(metricValue(after, 'audit_atna_connections_total', { result: 'tls_refused' }) - metricValue(before, 'audit_atna_connections_total', { result: 'tls_refused' })).toBe(3);
    expect(metricValue(after, 'audit_atna_connections_total', { result: 'accepted' })).toBe(metricValue(before, 'audit_atna_connections_total', { result: 'accepted' }));
    for (const id of ids) expect(await getEvent(id)).toBeUndefined();
    expect(t.logLines.join('\n')).toContain('ATNA tls handshake refused');
  });

  it('stores 2000 frames written at once on one connection (back-pressure, batched commits)', async () => {
    const before = await metrics();
    const messages = Array.from({ length: 2000 }, (_, i) => syslogMessage(numberedAuditXml(i, 'FLOOD')));
    const outcome = await tlsSend(port, sampleIdentity(t.dataDir), Buffer.concat(messages.map(frame)));
    expect(outcome.error).toBeUndefined();
    const stored = (text: string) => metricValue(text, 'audit_atna_messages_total', { result: 'stored' }) - metricValue(before, 'audit_atna_messages_total', { result: 'stored' });
    await waitFor(async () => (stored(await metrics()) >= 2000 ? true : undefined), 100_000, 100);
    const last = (mapAtnaSyslogFrame(messages[1999], { integration: 'sample-ehr' }) as { event: { id: string } }).event.id;
    expect(await getEvent(last)).toBeDefined();
    const verify = JSON.parse((await compliance.request('GET', '/v1/integrity/verify')).body);
    expect(verify).toMatchObject({ ok: true, break: null });
  }, 120_000);

  it('shuts down with a connection open: stops accepting, stores what it decoded, closes it promptly', async () => {
    const extra = await startTestApp(atnaOverrides());
    const extraPort = extra.app.get(AtnaListener).address()!.port;
    const m = syslogMessage(numberedAuditXml(1, 'SHUTDOWN'));
    const open = tlsSend(extraPort, sampleIdentity(extra.dataDir), frame(m), { endAfterWrite: false });
    const client = await extra.client('soc_analyst');
    const id = (mapAtnaSyslogFrame(m, { integration: 'sample-ehr' }) as { event: { id: string } }).event.id;
    await waitFor(async () => ((await client.request('GET', `/v1/events/${id}`)).status === 200 ? true : undefined));
    expect(extra.app.get(AtnaListener).connectionCount).toBe(1);
    const started = Date.now();
    await extra.close();
    expect(Date.now() - started).toBeLessThan(5000);
    const outcome = await open;
    expect(outcome.closedByServer || outcome.error !== undefined).toBe(true);
  });
});

describe('IHE ATNA receiver: the same admission as POST /v1/events', () => {
  let t: TestApp;

  beforeAll(async () => {
    const dataDir = tempDataDir();
    // sample-ehr may post only for its EHR's audit source id, not for the PACS.
    fs.writeFileSync(path.join(dataDir, 'integrations.json'), JSON.stringify({ 'sample-ehr': { systems: ['ehr01.clinic.example.org'] } }));
    t = await startTestApp({ ...atnaOverrides(), dataDir });
  });
  afterAll(() => t.close());

  it('a message for a source system the certificate may not post for is refused and counted; the others are stored', async () => {
    const port = t.app.get(AtnaListener).address()!.port;
    const reader = await t.client('compliance_officer');
    const allowed = syslogMessage(numberedAuditXml(1, 'OWNED'));
    const foreign = syslogMessage(atnaFixture('dicom-instances-accessed')); // AuditSourceID pacs.clinic.example.org
    const idOf = (m: Buffer) => (mapAtnaSyslogFrame(m, { integration: 'sample-ehr' }) as { event: { id: string } }).event.id;
    await tlsSend(port, sampleIdentity(t.dataDir), Buffer.concat([frame(foreign), frame(allowed)]));
    await waitFor(async () => ((await reader.request('GET', `/v1/events/${idOf(allowed)}`)).status === 200 ? true : undefined));
    expect((await reader.request('GET', `/v1/events/${idOf(foreign)}`)).status).toBe(404);
    const text = (await reader.request('GET', '/metrics')).body;
    expect(metricValue(text, 'audit_atna_messages_total', { result: 'refused' })).toBe(1);
    expect(metricValue(text, 'audit_atna_errors_total', { stage: 'store', code: 'source-not-allowed' })).toBe(1);
  });
});

describe('IHE ATNA receiver: accepted deviations counted per source (issue 21)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(atnaOverrides());
  });
  afterAll(() => t.close());

  it('each known deviation of a stored DICOM audit message is counted under the sending integration in audit_atna_data_quality_total', async () => {
    const port = t.app.get(AtnaListener).address()!.port;
    const reader = await t.client('compliance_officer');
    const ca = sampleIdentity(t.dataDir).ca;
    const pacs = await issueClientCertificate(t.dataDir, 'pacs-bridge');
    const lenient = atnaFixture('lenient-instances-transferred');
    // sample-ehr: upper/mixed-case UserIsRequestor on both participants, and no EventOutcomeIndicator.
    const fromEhr = syslogMessage(lenient.replace('RAD-40417', 'RAD-DQ-1'));
    // pacs-bridge (its own source system): the same booleans, but with an outcome.
    const fromPacs = syslogMessage(
      lenient
        .replace('RAD-40417', 'RAD-DQ-2')
        .replace('AuditSourceID="pacs.clinic.example.org"', 'AuditSourceID="pacs-bridge.example.org"')
        .replace('EventActionCode="C"', 'EventActionCode="C" EventOutcomeIndicator="0"'),
    );
    const clean = syslogMessage(numberedAuditXml(1, 'DQ-CLEAN')); // no deviation: counts nothing
    const idOf = (m: Buffer, integration: string) => {
      const r = mapAtnaSyslogFrame(m, { integration });
      if (!r.ok) throw new Error(`does not map: ${r.error.code}`);
      return r.event.id;
    };
    expect((await tlsSend(port, sampleIdentity(t.dataDir), Buffer.concat([frame(fromEhr), frame(clean)]))).error).toBeUndefined();
    expect((await tlsSend(port, { ca, cert: pacs.certPem, key: pacs.keyPem }, frame(fromPacs))).error).toBeUndefined();
    const stored: Record<string, unknown>[] = [];
    for (const [m, integration] of [[fromEhr, 'sample-ehr'], [clean, 'sample-ehr'], [fromPacs, 'pacs-bridge']] as const) {
      const res = await waitFor(async () => {
        const r = await reader.request('GET', `/v1/events/${idOf(m, integration)}`);
        return r.status === 200 ? (JSON.parse(r.body).event as Record<string, unknown>) : undefined;
      });
      stored.push(res);
    }
    // The notes on the events themselves (positions kept there).
    expect((stored[0].details as Record<string, unknown>).dataQuality).toBe('EventIdentification@EventOutcomeIndicator:missing ActiveParticipant[0]@UserIsRequestor:case ActiveParticipant[1]@UserIsRequestor:case');
    expect((stored[1].details as Record<string, unknown>).dataQuality).toBeUndefined();
    expect((stored[2].details as Record<string, unknown>).dataQuality).toBe('ActiveParticipant[0]@UserIsRequestor:case ActiveParticipant[1]@UserIsRequestor:case');
    expect(stored[2].source).toMatchObject({ integration: 'pacs-bridge' });

    // Counted per sending integration and kind of deviation (positions dropped: one per message).
    const text = (await reader.request('GET', '/metrics')).body;
    const dq = (labels: Record<string, string>) => metricValue(text, 'audit_atna_data_quality_total', labels);
    expect(dq({ integration: 'sample-ehr', deviation: 'ActiveParticipant@UserIsRequestor:case' })).toBe(1);
    expect(dq({ integration: 'sample-ehr', deviation: 'EventIdentification@EventOutcomeIndicator:missing' })).toBe(1);
    expect(dq({ integration: 'sample-ehr' })).toBe(2);
    expect(dq({ integration: 'pacs-bridge', deviation: 'ActiveParticipant@UserIsRequestor:case' })).toBe(1);
    expect(dq({ integration: 'pacs-bridge' })).toBe(1);
    expect(metricValue(text, 'audit_atna_messages_total', { result: 'stored' })).toBe(3);
    // Labels are fixed words: no patient id, host or user from the messages.
    const family = text.split('\n').filter((l) => l.startsWith('audit_atna_data_quality_total')).join('\n');
    for (const value of ['RAD-DQ', 'CT_SCANNER_2', 'PACS_MAIN', '10.9.']) expect(family).not.toContain(value);
  });
});

describe('IHE ATNA receiver: DICOM-derived event ids scoped by integration (issue 22)', () => {
  let t: TestApp;

  beforeAll(async () => {
    const dataDir = tempDataDir();
    // Two relays of the same PACS's audit stream, both allowed its audit source id.
    fs.writeFileSync(path.join(dataDir, 'integrations.json'), JSON.stringify({ 'sample-ehr': { systems: ['pacs.clinic.example.org'] }, 'pacs-relay': { systems: ['pacs.clinic.example.org'] } }));
    t = await startTestApp({ ...atnaOverrides(), dataDir });
  });
  afterAll(() => t.close());

  it('scopes DICOM-derived event ids by integration: the same message from another integration is its own event, neither refused nor refusing', async () => {
    const port = t.app.get(AtnaListener).address()!.port;
    const reader = await t.client('compliance_officer');
    const relay = await issueClientCertificate(t.dataDir, 'pacs-relay');
    const relayIdentity = { ca: sampleIdentity(t.dataDir).ca, cert: relay.certPem, key: relay.keyPem };
    const message = frame(syslogMessage(atnaFixture('dicom-instances-accessed').replace('RAD-99812', 'RAD-SCOPE-1')));
    const eventsOfPatient = async () =>
      (JSON.parse((await reader.request('GET', '/v1/events?patient=RAD-SCOPE-1')).body).events as EventView[]).sort((a, b) => a.receipt.seq - b.receipt.seq);

    // The other integration sends the message first ...
    expect(await tlsSend(port, relayIdentity, message)).toMatchObject({ closedByServer: false });
    await waitFor(async () => ((await eventsOfPatient()).length === 1 ? true : undefined));
    // ... and the same bytes from sample-ehr are stored as sample-ehr's own event (before the ids
    // were scoped, the same id with another source.integration was refused as an idempotency conflict).
    expect(await tlsSend(port, sampleIdentity(t.dataDir), message)).toMatchObject({ closedByServer: false });
    const both = await waitFor(async () => {
      const events = await eventsOfPatient();
      return events.length === 2 ? events : undefined;
    });
    expect(both.map((v) => v.event.source.integration).sort()).toEqual(['pacs-relay', 'sample-ehr']);
    expect(both[0].event.id).not.toBe(both[1].event.id);
    expect(both[0].event.details?.atnaMessageSha256).toBe(both[1].event.details?.atnaMessageSha256);

    // A re-send by sample-ehr is its own replay: stored once, same receipt.
    const mine = both.find((v) => v.event.source.integration === 'sample-ehr')!;
    const marker = syslogMessage(numberedAuditXml(1, 'SCOPE-MARKER').replace(/AuditSourceID="[^"]*"/, 'AuditSourceID="pacs.clinic.example.org"'));
    expect(await tlsSend(port, sampleIdentity(t.dataDir), Buffer.concat([message, frame(marker)]))).toMatchObject({ closedByServer: false });
    await waitFor(async () => ((await reader.request('GET', `/v1/events/${(mapAtnaSyslogFrame(marker, { integration: 'sample-ehr' }) as { event: { id: string } }).event.id}`)).status === 200 ? true : undefined));
    const after = await eventsOfPatient();
    expect(after).toHaveLength(2);
    expect(after.find((v) => v.event.id === mine.event.id)!.receipt).toEqual(mine.receipt);

    // Nothing was refused: no integration learned, through a refusal, that the other had sent it.
    const text = (await reader.request('GET', '/metrics')).body;
    expect(metricValue(text, 'audit_atna_messages_total', { result: 'refused' })).toBe(0);
    expect(metricValue(text, 'audit_atna_errors_total', { code: 'idempotency-conflict' })).toBe(0);
    expect(metricValue(text, 'audit_atna_messages_total', { result: 'stored' })).toBe(4); // the re-send counts as stored (acknowledged), not as a new event
  });
});
