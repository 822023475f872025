// `node bench/partition-layout.experiment.js <one-table|weekly|no-id-index> [rows] [step] [days]`
// Raw SQLite experiment (NOT the product): the same row shapes appended 1,000 a transaction (WAL,
// synchronous=FULL, 64 MiB cache) into (a) today's one-table layout, (b) the same without UNIQUE(id),
// (c) one table set per week of receive time (the partitioned design; ids unique per week only, the
// cross-week filters are not modelled). Prints append rate and CPU µs per event per step, then times
// dropping the oldest 30 days (one DELETE in one table, DROP TABLE of each whole week before day 30).
const Database = require('better-sqlite3');
const crypto = require('node:crypto');
const fs = require('node:fs'); const os = require('node:os'); const path = require('node:path');
const variant = process.argv[2]; const TOTAL = Number(process.argv[3] ?? 3e6); const STEP = Number(process.argv[4] ?? 5e5);
const DAYS = Number(process.argv[5] ?? 180);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p19-exp-'));
const db = new Database(path.join(dir, 'x.db'));
db.pragma('journal_mode = WAL'); db.pragma('synchronous = FULL'); db.pragma('wal_autocheckpoint = 10000'); db.pragma('cache_size = -65536');
const tableSql = (t, uniqueId) => `CREATE TABLE ${t} (pos INTEGER PRIMARY KEY, chain TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, received_at TEXT NOT NULL,
 occurred_ms INTEGER NOT NULL, category TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL, actor_id TEXT NOT NULL, patient_id TEXT, event TEXT NOT NULL, sealed BLOB,
 prev_hash BLOB NOT NULL, hash BLOB NOT NULL, UNIQUE (chain, seq) ${uniqueId ? ', UNIQUE (id)' : ''});
 CREATE INDEX ${t}_by_actor ON ${t} (actor_id, occurred_ms);
 CREATE INDEX ${t}_by_patient ON ${t} (patient_id, occurred_ms) WHERE patient_id IS NOT NULL;
 CREATE INDEX ${t}_by_time ON ${t} (occurred_ms);
 CREATE INDEX ${t}_access_log ON ${t} (occurred_ms) WHERE chain = 'access_log';
 CREATE TRIGGER ${t}_t1 BEFORE UPDATE ON ${t} BEGIN SELECT RAISE(ABORT, 'x'); END;
 CREATE TRIGGER ${t}_t2 BEFORE DELETE ON ${t} BEGIN SELECT RAISE(ABORT, 'x'); END;`;
const weekly = variant === 'weekly';
const made = new Map();
const insertInto = (t) => { if (!made.has(t)) { db.exec(tableSql(t, variant !== 'no-id-index')); made.set(t, db.prepare(`INSERT INTO ${t} (pos, chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, event, sealed, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`)); } return made.get(t); };
const tx = db.transaction((rows) => { for (const r of rows) insertInto(weekly ? 'events_w' + Math.floor(Date.parse(r[4]) / 604800000) : 'events').run(r); });
const pad = 'x'.repeat(420); let seq = 0; const t0ms = Date.parse('2026-01-01T00:00:00Z');
let sec = 0, cpuUs = 0, n0 = 0; const rates = [];
console.log(`variant ${variant}: ${TOTAL} rows over ${DAYS} days, load ${os.loadavg()[0].toFixed(2)}`);
for (let n = 0; n < TOTAL; n += 1000) {
  const rows = [];
  for (let i = 0; i < 1000; i++) {
    const ms = t0ms + Math.floor(((n + i) / TOTAL) * DAYS * 86400000);
    const pat = crypto.createHash('sha256').update(String(Math.floor(Math.random() * 500000))).digest('base64url');
    rows.push([n + i, 'data_access', seq++, crypto.randomUUID(), new Date(ms).toISOString(), ms, 'data_access', 'read', 'success', 'u-' + Math.floor(Math.random() * 3000), pat, pad + crypto.randomUUID(), crypto.randomBytes(60), crypto.randomBytes(32), crypto.randomBytes(32)]);
  }
  const c0 = process.cpuUsage(); const t = performance.now();
  tx(rows);
  sec += (performance.now() - t) / 1000; const c = process.cpuUsage(c0); cpuUs += c.user + c.system;
  if ((n + 1000) % STEP === 0) { const r = (n + 1000 - n0) / sec; rates.push(r); console.log(`${n + 1000}\t${Math.round(r)}/s\t${(cpuUs / (n + 1000 - n0)).toFixed(1)} us/ev\tload ${os.loadavg()[0].toFixed(2)}`); sec = 0; cpuUs = 0; n0 = n + 1000; }
}
console.log(`ratio last/first ${(rates[rates.length - 1] / rates[0]).toFixed(2)}`);
// Dropping the oldest month (the first 30 of DAYS days): row deletes in one table, DROP TABLE per week.
const cutoff = t0ms + 30 * 86400000;
const c0 = process.cpuUsage(); const t = performance.now(); let dropped = 0;
if (weekly) {
  db.transaction(() => { for (const name of made.keys()) { const w = Number(name.slice(8)); if ((w + 1) * 604800000 <= cutoff) { dropped += db.prepare(`SELECT COUNT(*) AS n FROM ${name}`).get().n; db.exec(`DROP TABLE ${name}`); } } })();
} else {
  db.exec('DROP TRIGGER events_t2');
  dropped = db.prepare('DELETE FROM events WHERE occurred_ms < ?').run(cutoff).changes;
}
const c = process.cpuUsage(c0);
console.log(`drop oldest month: ${dropped} rows in ${((performance.now() - t) / 1000).toFixed(1)} s, ${((c.user + c.system) / 1e6).toFixed(1)} s CPU`);
fs.rmSync(dir, { recursive: true, force: true });
