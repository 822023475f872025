/**
 * The alert outbox (STORE=elasticsearch): alerts the detection worker committed locally with its
 * snapshot reach the shared Elasticsearch alert index (the official client test double) exactly
 * once, in order, across an outage and a crash between shipping and recording progress, and
 * never undo an analyst's change made in the shared store.
 */
import Database from 'better-sqlite3';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { SealedText } from '@app/storage/sqlite/sealed-fields';
import { DetectionAlert } from '../alert';
import { AlertOutbox } from './alert-outbox';
import { ElasticsearchAlertStore } from './es-alert-store';
import { SqliteAlertStore } from './sqlite-alert-store';
import { SqliteDetectionProgressStore } from './sqlite-detection-state';

const key = crypto.createSecretKey(crypto.randomBytes(32));
const sealer = new SealedText({ current: () => ({ keyId: 'k1', key }), byId: (id) => (id === 'k1' ? key : undefined), lists: (id) => id === 'k1' });

function alert(n: number): DetectionAlert {
  const end = new Date(Date.parse('2026-03-03T10:00:00Z') + n * 60_000).toISOString();
  const id = `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`;
  return {
    id,
    ruleId: 'break-glass-access',
    title: 't',
    severity: 'high',
    kind: 'match',
    runbook: 'r',
    tags: [],
    groupKey: { 'actor.id': `u-${n}`, 'patient.id': `MRN-${n}` },
    windowStart: end,
    windowEnd: end,
    count: 1,
    evidence: { eventIds: [id], firstEventId: id, lastEventId: id, total: 1, truncated: false },
    summary: { eventCount: 1, firstEventAt: end, lastEventAt: end, spanMs: 0, distinctPatients: 1, topPatients: [], distinctActors: 1, actors: [], distinctSourceIps: 0, sourceIps: [], sourceSystems: [], integrations: [] },
    position: n,
    reasons: [n % 2 ? "bulk-read" : "break-glass"],
    actor: `u-${n}`,
  };
}

function setup() {
  const db = new Database(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'audit-outbox-')), 'audit.db'));
  const local = new SqliteAlertStore(db, sealer);
  const progress = new SqliteDetectionProgressStore(db, local, 'engine', sealer);
  const fake = new EsFake();
  const shared = new ElasticsearchAlertStore(fake.client(), 'audit-alerts', sealer, { sleep: async () => undefined });
  return { db, progress, fake, shared, outbox: new AlertOutbox(db, shared, sealer, { batch: 2 }) };
}

describe('AlertOutbox', () => {
  it('ships every locally committed alert once, in order, in batches (op_type=create on the alert id)', async () => {
    const { progress, fake, shared, outbox } = setup();
    progress.commit([alert(1), alert(2), alert(3)], '2026-03-03T10:05:00.000Z', null);
    expect(await outbox.flush()).toBe(3);
    expect(fake.bulks().map((b) => b.map((op) => op.action.create._id))).toEqual([[alert(1).id, alert(2).id], [alert(3).id]]);
    expect((await shared.list({ limit: 10 })).alerts.map((a) => a.id)).toEqual([alert(3).id, alert(2).id, alert(1).id]);
    expect(await outbox.flush()).toBe(0);
    expect(fake.bulks()).toHaveLength(2);
    // A replay of the worker (same ids) stores nothing new locally, so nothing is shipped again.
    progress.commit([alert(2), alert(4)], '2026-03-03T10:06:00.000Z', null);
    expect(await outbox.flush()).toBe(1);
    expect(fake.indices.get('audit-alerts')!.size).toBe(4);
  });

  it('keeps what it has not shipped through an outage, and never undoes an analyst’s change when it ships twice', async () => {
    const { db, progress, fake, shared, outbox } = setup();
    progress.commit([alert(1)], '2026-03-03T10:05:00.000Z', null);
    fake.down = true;
    await expect(outbox.flush()).rejects.toThrow(/Elasticsearch request failed/);
    expect(outbox.shippedUpTo()).toBe(0);
    fake.down = false;
    expect(await outbox.flush()).toBe(1);
    await shared.transition(alert(1).id, { action: 'acknowledge', by: 'jane', at: '2026-03-03T10:07:00.000Z' });
    // A crash after shipping but before recording progress: the next run ships it again.
    db.prepare('DELETE FROM alert_outbox').run();
    expect(await new AlertOutbox(db, shared, sealer).flush()).toBe(1);
    expect((await shared.get(alert(1).id))!.status).toBe('acknowledged');
    expect(fake.conflicts.get('audit-alerts')).toBe(1);
  });
});
