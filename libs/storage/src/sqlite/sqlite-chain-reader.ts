/**
 * Verification fast path of the embedded store: reads one chain's records for the verifier over
 * its own read-only connection, and recomputes each record's hash on the way, in bytes.
 *
 * `SqliteEventStore.readChain` builds a row object per record, decrypts each record's sealed
 * fields into a fresh string and leaves the hash to the verifier, which rebuilds the canonical
 * record as another string: about 20 µs of CPU per record. Here a page is one raw SELECT with the
 * fewest JS values per row (three strings, the last sealed || prev_hash || hash in hex), the
 * sealed fields of the whole page are opened with one AES call per key into one buffer
 * (AesGcmEnvelope.openUnauthenticatedPage), and the record bytes are spliced straight into the
 * hash input (RecordHashBuilder). A row whose hash matches is handed on with `hashChecked`; its
 * event text is only built if the verifier asks for it (classifying a neighbour's break).
 *
 * Anything unusual takes the ordinary path, with the rows and texts `readChain` gives, so breaks
 * are named exactly as before: a page with a column of an unexpected type or size is re-read as
 * `readChain` reads it, and a row that is not ASCII, cannot be opened, or does not hash to its
 * stored hash is decoded as `readChain` decodes it (`SqliteEventStore.eventTexts`, mode verify).
 */
import type Database from 'better-sqlite3';
import { ChainHead, ChainRow, RecordHashBuilder } from '@app/ledger';
import { openDatabase, SqliteDb } from './sqlite-database';
import { DERIVED_CHECK_SQL, DERIVED_COLUMNS_SQL, PATIENT_ID_MARK, patientIdAt } from './derived-columns-sql';
import { DerivedColumns, PatientTokenCache, derivedColumnMismatch, patientMismatch } from '../derived-columns';
import { DataKeyUnavailableError, FieldProtection, SealedFieldCodec, SealedRecordError } from './sealed-fields';

const HASHES = 64;

/**
 * Page columns: seq, received_at, event, and sealed || prev_hash || hash in hex (NULL when any column
 * is not of the expected type or size). Hex text, decoded into one buffer per page, costs less than
 * a Buffer per row from the driver. Then the derived-column check (DERIVED_CHECK_SQL): the first
 * column SQLite itself finds different from the stored text ('' when none), the record's occurredAt
 * and the stored occurred_ms, and patient_id (its token is checked here, with the sealed patient id).
 */
const FAST_PAGE_SQL = `SELECT seq, received_at, event,
  CASE WHEN typeof(seq) = 'integer' AND typeof(received_at) = 'text' AND typeof(event) = 'text'
        AND typeof(prev_hash) = 'blob' AND length(prev_hash) = 32 AND typeof(hash) = 'blob' AND length(hash) = 32
        AND (sealed IS NULL OR typeof(sealed) = 'blob')
       THEN hex(coalesce(sealed, x'')) || hex(prev_hash) || hex(hash) END,
  ${DERIVED_CHECK_SQL}
  FROM events WHERE chain = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`;

/** Exactly the query of SqliteEventStore.readChain. */
const PLAIN_PAGE_SQL = `SELECT seq, received_at, event, sealed, prev_hash, hash, ${DERIVED_COLUMNS_SQL} FROM events WHERE chain = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`;

type FastRaw = [number, string, string, string | null, string | null, unknown, unknown, unknown];
interface PlainRow extends DerivedColumns {
  seq: number;
  received_at: string;
  event: string;
  sealed: Buffer | null;
  prev_hash: Buffer;
  hash: Buffer;
}

/** A record whose hash the reader recomputed and found right; its text is decoded on demand. */
class CheckedRow implements ChainRow {
  readonly hashChecked = true;
  private text: string | undefined;

  constructor(
    readonly seq: number,
    readonly receivedAt: string,
    readonly prevHash: Buffer,
    readonly hash: Buffer,
    private readonly stored: string,
    /** The page buffer, where this row's sealed blob starts in it, and its length (0: none). */
    private readonly page: Buffer,
    private readonly sealedAt: number,
    private readonly sealedLength: number,
    private readonly reader: SqliteChainReader,
  ) {}

  get eventJson(): string {
    if (this.text === undefined) this.text = this.reader.decode(this.stored, this.sealedLength > 0 ? this.page.subarray(this.sealedAt, this.sealedAt + this.sealedLength) : null);
    return this.text;
  }
}

export class SqliteChainReader {
  private readonly fastPage: Database.Statement;
  private readonly plainPage: Database.Statement;
  private readonly selectHead: Database.Statement;
  private readonly codec: SealedFieldCodec;
  private readonly tokens: PatientTokenCache;

  constructor(
    private readonly db: SqliteDb,
    private readonly protection: FieldProtection,
  ) {
    this.fastPage = db.prepare(FAST_PAGE_SQL).raw(true);
    this.plainPage = db.prepare(PLAIN_PAGE_SQL);
    this.selectHead = db.prepare('SELECT seq, hash FROM chain_heads WHERE chain = ?');
    this.codec = new SealedFieldCodec(protection.dataKeys);
    this.tokens = new PatientTokenCache((id) => protection.patientToken(id));
  }

  /** A reader over its own read-only connection to the database of a data dir. */
  static open(dataDir: string, protection: FieldProtection): SqliteChainReader {
    return new SqliteChainReader(openDatabase(dataDir, { readonly: true }), protection);
  }

  get connection(): SqliteDb {
    return this.db;
  }

  /** The recorded head of a chain (as SqliteEventStore.chainHeads has it), or null. */
  head(chain: string): ChainHead | null {
    const row = this.selectHead.get(chain) as { seq: number; hash: Buffer } | undefined;
    return row ? { seq: row.seq, hash: row.hash } : null;
  }

  /**
   * Whether records of the chain with seq in [fromSeq, toSeq] lie in the warm tier
   * (`warm_events`, TieredSqliteEventStore), which this reader does not read: such a range is read
   * through the tiered store instead.
   */
  hasWarmRecords(chain: string, fromSeq: number, toSeq: number): boolean {
    if (this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'warm_events'").get() === undefined) return false;
    return this.db.prepare('SELECT 1 FROM warm_events WHERE chain = ? AND seq >= ? AND seq <= ? AND restored = 0 LIMIT 1').get(chain, fromSeq, toSeq) !== undefined;
  }

  /** The chain's rows with seq in [fromSeq, toSeq], in seq order, page by page (as readChain pages them). */
  *readChain(chain: string, fromSeq: number, toSeq?: number, pageSize = 5000): Generator<ChainRow[]> {
    const builder = new RecordHashBuilder(chain);
    let next = fromSeq;
    const end = toSeq ?? Number.MAX_SAFE_INTEGER;
    for (;;) {
      const raw = this.fastPage.all(chain, next, end, pageSize) as FastRaw[];
      if (raw.length === 0) return;
      const page = raw.every((r) => r[3] !== null) ? this.fastRows(raw, builder) : this.plainRows(chain, next, end, pageSize);
      if (page.length === 0) return;
      yield page;
      if (page.length < pageSize) return;
      next = page[page.length - 1].seq + 1;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The event text readChain gives for a stored row (SqliteEventStore.eventTexts, mode verify). */
  decode(stored: string, sealed: Buffer | null): string {
    if (sealed === null) return stored;
    const opened = this.codec.openForVerification([{ storedJson: stored, sealed }])[0];
    if (typeof opened === 'string') return opened;
    // A key id the keyring never listed was written by someone else: tampering, hashed as the stored
    // text. A listed key whose file is gone (or no keyring at all) is a set-up problem: say so.
    if (opened.reason === 'unknown-key' && this.protection.dataKeys.lists?.(opened.keyId!) !== false) throw new DataKeyUnavailableError(opened.keyId!);
    return stored;
  }

  private fastRows(raw: FastRaw[], builder: RecordHashBuilder): ChainRow[] {
    const n = raw.length;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += (raw[i][3] as string).length >>> 1;
    // One buffer for the page: rows keep views into it (their hashes), never a copy per row.
    const page = Buffer.allocUnsafe(bytes);
    const offsets = new Int32Array(n);
    const sealedLengths = new Int32Array(n);
    for (let i = 0, at = 0; i < n; i++) {
      const w = page.write(raw[i][3] as string, at, 'hex');
      offsets[i] = at;
      sealedLengths[i] = w - HASHES;
      at += w;
    }
    const { plain, starts, plainLengths, errors } = this.codec.openPageForVerification(page, offsets, sealedLengths);
    const out: ChainRow[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const r = raw[i];
      const seq = r[0];
      const receivedAt = r[1];
      const stored = r[2];
      const at = offsets[i];
      const sl = sealedLengths[i];
      const prevHash = page.subarray(at + sl, at + sl + 32);
      const hash = page.subarray(at + sl + 32, at + sl + 64);
      const ok = errors[i] === undefined && this.hashMatches(builder, stored, prevHash, hash, receivedAt, seq, sl > 0 ? starts[i] : -1, plain, plainLengths[i]);
      const row: ChainRow = ok
        ? new CheckedRow(seq, receivedAt, prevHash, hash, stored, page, at, sl, this)
        : { seq, receivedAt, eventJson: this.decode(stored, sl > 0 ? page.subarray(at, at + sl) : null), prevHash, hash };
      const column = ok ? this.fastColumnMismatch(r, stored, sl > 0 ? starts[i] : -1, plain, plainLengths[i]) : null;
      if (column !== null) row.columnMismatch = column;
      out[i] = row;
    }
    return out;
  }

  /**
   * Splices the opened values into the stored text in bytes and hashes the record. False when the
   * stored text is not ASCII (offsets are UTF-16 units), the opened fields do not fit it (as
   * `splice` in sealed-fields.ts checks), or the hash differs: the caller then decodes the row the
   * ordinary way and the verifier judges it.
   */
  private hashMatches(
    b: RecordHashBuilder,
    stored: string,
    prevHash: Buffer,
    hash: Buffer,
    receivedAt: string,
    seq: number,
    start: number,
    plain: Buffer,
    plainLength: number,
  ): boolean {
    b.begin(prevHash);
    const evLen = b.appendEventText(stored);
    if (evLen !== stored.length) return false;
    if (start >= 0) {
      const endAt = start + plainLength;
      let from = 0;
      let shift = 0;
      for (let p = start; p < endAt; ) {
        if (p + 8 > endAt) return false;
        const at = plain.readUInt32BE(p);
        const len = plain.readUInt32BE(p + 4);
        if (at < from || at > evLen || p + 8 + len > endAt) return false;
        b.insertEvent(at + shift, plain, p + 8, p + 8 + len);
        shift += len;
        from = at;
        p += 8 + len;
      }
    }
    return b.finish(receivedAt, seq).equals(hash);
  }

  /**
   * The derived-column check of a fast-path row whose hash matched: SQLite compared the columns it
   * can read from the stored text; occurred_ms and the patient token are compared here (the patient
   * id is one of the sealed values: its offset in the stored text tells which).
   */
  private fastColumnMismatch(r: FastRaw, stored: string, start: number, plain: Buffer, plainLength: number): string | null {
    const sqlFound = r[4];
    if (sqlFound === null) return null; // the stored text is not JSON: its hash cannot have matched
    if (sqlFound !== '') return sqlFound;
    if (typeof r[5] !== 'string' || Date.parse(r[5]) !== r[6]) return 'occurred_ms';
    const patientColumn = r[7] as string | null;
    if (patientColumn === null) return null; // SQLite checked that the record has no patient either
    const mark = stored.indexOf(PATIENT_ID_MARK);
    if (mark < 0) return 'patient_id';
    const at = mark + PATIENT_ID_MARK.length;
    let patientId: string | undefined;
    if (start >= 0) {
      for (let p = start, end = start + plainLength; p + 8 <= end; ) {
        const fieldAt = plain.readUInt32BE(p);
        const len = plain.readUInt32BE(p + 4);
        if (fieldAt === at) {
          patientId = unescapeJsonContent(plain.toString('utf8', p + 8, p + 8 + len));
          break;
        }
        p += 8 + len;
      }
    }
    // A record stored before field encryption keeps the id in its text, and the column the id itself.
    const legacy = start < 0;
    if (patientId === undefined) patientId = legacy ? patientIdAt(stored, at) : undefined;
    if (patientId === undefined) return 'patient_id';
    return patientMismatch(patientId, patientColumn, this.tokens, legacy) ? 'patient_id' : null;
  }

  /** A page read and decoded exactly as SqliteEventStore.readChain does. */
  private plainRows(chain: string, from: number, end: number, pageSize: number): ChainRow[] {
    const rows = this.plainPage.all(chain, from, end, pageSize) as PlainRow[];
    const opened = this.codec.openForVerification(rows.map((r) => ({ storedJson: r.event, sealed: r.sealed })));
    return rows.map((r, i) => {
      const o = opened[i];
      let text: string;
      if (typeof o === 'string') text = o;
      else {
        if (!(o instanceof SealedRecordError)) throw o;
        if (o.reason === 'unknown-key' && this.protection.dataKeys.lists?.(o.keyId!) !== false) throw new DataKeyUnavailableError(o.keyId!);
        text = r.event;
      }
      const row: ChainRow = { seq: r.seq, receivedAt: r.received_at, eventJson: text, prevHash: r.prev_hash, hash: r.hash };
      const column = derivedColumnMismatch(text, r, this.tokens, r.sealed === null);
      if (column !== null) row.columnMismatch = column;
      return row;
    });
  }
}

function unescapeJsonContent(content: string): string {
  return content.includes('\\') ? (JSON.parse(`"${content}"`) as string) : content;
}
