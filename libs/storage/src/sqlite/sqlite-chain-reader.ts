/**
 * Verification fast path of the embedded store: reads one chain's records for the verifier over
 * its own read-only connection, and recomputes each record's hash and derived-column check on the
 * way, in bytes.
 *
 * `SqliteEventStore.readChain` builds a row object per record, decrypts each record's sealed
 * fields into a fresh string, parses each record for the column check and leaves the hash to the
 * verifier, which rebuilds the canonical record as another string: about 20 µs of CPU per record.
 * Here a page is one raw SELECT with few JS values per row (the stored text; sealed || prev_hash ||
 * hash in hex; the five text columns as one string of JSON literals), the sealed fields of the whole
 * page are opened with one AES call per key into one buffer (AesGcmEnvelope.openUnauthenticatedPage),
 * the record bytes are spliced straight into the hash input (RecordHashBuilder), and the derived
 * columns are compared with the fields of those very bytes (DerivedFieldScan: one pass, no parse).
 * A row whose hash and columns match is handed on with `hashChecked`; its event text is only built
 * if the verifier asks for it (classifying a neighbour's break).
 *
 * With the native extension loaded (native-chain-check.ts; VERIFY_NATIVE=0 switches it off) all of
 * that happens in C inside the page query itself (audit_chain_check, an aggregate over the page's
 * rows): JavaScript gets one blob per page with each row's status, seq, rowid and hashes. The
 * extension checks patient columns itself once it has the tokenization key (given on the first page
 * that needs it, when the field protection hands it out); JavaScript only checks the pairs it leaves
 * pending (ids that are not their own canonical form, or no key: then the token is computed here and
 * the pair handed back with audit_patient_ok). Rows it flags take the ordinary path below, as rows
 * the JavaScript fast path cannot confirm do.
 *
 * Anything unusual takes the ordinary path, row by row, so breaks are named exactly as before: a
 * row with a column of an unexpected type or size, stored text that is not ASCII, fields that cannot
 * be opened, a hash that differs, or columns the fast comparison cannot confirm is read again (by
 * its rowid) and decoded and checked as `readChain` does (`SqliteEventStore.eventTexts`, mode
 * verify; derived-columns.ts), and the verifier judges it.
 */
import type Database from 'better-sqlite3';
import { ChainHead, ChainRow, CheckedRun, RecordHashBuilder, isCheckedRun } from '@app/ledger';
import { openDatabase, SqliteDb } from './sqlite-database';
import { DERIVED_COLUMNS_SQL } from './derived-columns-sql';
import { DerivedColumns, PatientTokenCache, derivedColumnMismatch, patientMismatch } from '../derived-columns';
import { DerivedField, DerivedFieldScan } from '../derived-field-scan';
import type { FieldProtection } from '../field-protection.port';
import { DataKeyUnavailableError, SealedFieldCodec, SealedRecordError } from './sealed-fields';
import { VerificationPath, loadNativeChainCheck } from './native-chain-check';

const HASHES = 64;

/**
 * Page columns: seq, received_at, event; sealed || prev_hash || hash in hex (NULL when any column
 * is not of the expected type or size; hex text, decoded into one buffer per page, costs less than
 * a Buffer per row from the driver); id, category, action, outcome and actor_id as their JSON
 * literals one after the other (NULL when one is a blob, which json_quote refuses), occurred_ms,
 * patient_id; and the rowid to read an unusual row again.
 *
 * Types are checked with comparisons, not typeof() calls (a third less SQL per row): in SQLite's
 * order every blob sorts after every NULL, number and text, so `x >= x''` holds for a blob only and
 * `x < x''` for anything else but NULL; `sealed > x''` is a non-empty blob. The columns handed over
 * as they are (seq, received_at, event) are checked in JavaScript (fastRows: a number, strings).
 */
const FAST_PAGE_SQL = `SELECT seq, received_at, event,
  CASE WHEN length(prev_hash) = 32 AND prev_hash >= x'' AND length(hash) = 32 AND hash >= x''
        AND (sealed IS NULL OR sealed > x'')
       THEN hex(coalesce(sealed, x'')) || hex(prev_hash) || hex(hash) END,
  CASE WHEN id < x'' AND category < x'' AND action < x'' AND outcome < x'' AND actor_id < x''
       THEN json_quote(id) || json_quote(category) || json_quote(action) || json_quote(outcome) || json_quote(actor_id) END,
  occurred_ms, patient_id, pos
  FROM events WHERE chain = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`;

const PLAIN_COLUMNS = `seq, received_at, event, sealed, prev_hash, hash, ${DERIVED_COLUMNS_SQL}`;

/** One row of a fast page read again, with the columns SqliteEventStore.readChain reads. */
const PLAIN_ROW_SQL = `SELECT ${PLAIN_COLUMNS} FROM events WHERE pos = ?`;

const NATIVE_ARGS = 'seq, received_at, event, sealed, prev_hash, hash, id, category, action, outcome, actor_id, occurred_ms, patient_id, pos';

/**
 * A native page (native/chain-check/chain_check.c): the chain's rows with seq in a range, each
 * checked by the extension; one blob per page. The aggregate takes the rows straight from the scan
 * of the (chain, seq) index, without a copy of their values: a subquery with ORDER BY and LIMIT
 * (NATIVE_ORDERED_PAGE_SQL) runs as a co-routine whose every value SQLite copies before handing it
 * on (about 2 % of the workers' CPU in a profile). When the range holds each of its seqs once and in order
 * (holdsEachSeq: an intact chain), that is exactly the page of NATIVE_ORDERED_PAGE_SQL; otherwise (a
 * gap, a seq twice, out of order or not an integer) the reader reads that page instead, so pages and
 * verdicts are the store's readChain ones whatever happened to the rows.
 */
const NATIVE_PAGE_SQL = `SELECT audit_chain_check(?, ${NATIVE_ARGS}) FROM events WHERE chain = ? AND seq >= ? AND seq <= ?`;

/** The next rows of the chain in seq order, as the store pages them (same rows and order as FAST_PAGE_SQL). */
const NATIVE_ORDERED_PAGE_SQL = `SELECT audit_chain_check(?, ${NATIVE_ARGS})
  FROM (SELECT ${NATIVE_ARGS} FROM events WHERE chain = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?)`;

/** The chain's last numeric seq (NULL: none): where the range pages of a read without an end stop. */
const LAST_SEQ_SQL = 'SELECT max(seq) FROM events WHERE chain = ? AND seq <= 9007199254740991';

/** Layout of the native page blob (chain_check.c's header comment). */
const N_HEADER = 16;
const N_ENTRY = 88;
const N_CHECKED = 0;
const N_PATIENT_PENDING = 1;
const N_PATIENT_PENDING_LEGACY = 2;
const TWO_32 = 4294967296;

type FastRaw = [number, string, string, string | null, string | null, unknown, unknown, number];
interface PlainRow extends DerivedColumns {
  seq: number;
  received_at: string;
  event: string;
  sealed: Buffer | null;
  prev_hash: Buffer;
  hash: Buffer;
}

/** The columns compared as one string of JSON literals, in this order. */
const LITERAL_FIELDS = [DerivedField.Id, DerivedField.Category, DerivedField.Action, DerivedField.Outcome, DerivedField.ActorId] as const;

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

/** Decoded hex columns of one page: row i's sealed blob, prev_hash and hash at offsets[i] in `bytes`. */
interface PageBytes {
  bytes: Buffer;
  offsets: Int32Array;
  sealedLengths: Int32Array;
}

/** Consecutive fast-path rows of one page, each hash-checked, column-checked and linked to the one before. */
class PageRun implements CheckedRun {
  readonly checkedRun = true;
  count = 1;

  constructor(
    private readonly raw: FastRaw[],
    private readonly page: PageBytes,
    /** Index in the page of the run's first row. */
    private readonly first: number,
    readonly firstSeq: number,
    private readonly reader: SqliteChainReader,
  ) {}

  firstLinksTo(hash: Buffer): boolean {
    const { bytes, offsets, sealedLengths } = this.page;
    const at = offsets[this.first] + sealedLengths[this.first];
    for (let k = 0; k < 32; k++) if (bytes[at + k] !== hash[k]) return false;
    return hash.length === 32;
  }

  hashAt(i: number): Buffer {
    const j = this.first + i;
    const at = this.page.offsets[j] + this.page.sealedLengths[j] + 32;
    return this.page.bytes.subarray(at, at + 32);
  }

  row(i: number): ChainRow {
    const j = this.first + i;
    const r = this.raw[j];
    const { bytes, offsets, sealedLengths } = this.page;
    const at = offsets[j];
    const sl = sealedLengths[j];
    return new CheckedRow(r[0], r[1], bytes.subarray(at + sl, at + sl + 32), bytes.subarray(at + sl + 32, at + sl + 64), r[2], bytes, at, sl, this.reader);
  }
}

/** A record the extension re-hashed, linked and column-checked; its text is read again on demand. */
class NativeRow implements ChainRow {
  readonly hashChecked = true;
  private text: { receivedAt: string; eventJson: string } | undefined;

  constructor(
    readonly seq: number,
    readonly prevHash: Buffer,
    readonly hash: Buffer,
    private readonly pos: number,
    private readonly reader: SqliteChainReader,
  ) {}

  get receivedAt(): string {
    return (this.text ??= this.reader.rowText(this.pos)).receivedAt;
  }

  get eventJson(): string {
    return (this.text ??= this.reader.rowText(this.pos)).eventJson;
  }
}

/** Consecutive rows of a native page the extension checked and found linked. */
class NativeRun implements CheckedRun {
  readonly checkedRun = true;
  count = 1;

  constructor(
    private readonly page: Buffer,
    /** Offset in the page of the run's first entry. */
    private readonly first: number,
    readonly firstSeq: number,
    private readonly reader: SqliteChainReader,
  ) {}

  firstLinksTo(hash: Buffer): boolean {
    return hash.length === 32 && same32(this.page, this.first + 16, hash, 0);
  }

  hashAt(i: number): Buffer {
    const at = this.first + i * N_ENTRY + 48;
    return this.page.subarray(at, at + 32);
  }

  row(i: number): ChainRow {
    const e = this.first + i * N_ENTRY;
    const p = this.page;
    return new NativeRow(this.firstSeq + i, p.subarray(e + 16, e + 48), p.subarray(e + 48, e + 80), p.readUInt32LE(e + 8) + p.readInt32LE(e + 12) * TWO_32, this.reader);
  }
}

/** The digit at `i` of `b`, or a negative number when it is not one. */
function digit(b: Buffer, i: number): number {
  const d = b[i] - 48;
  return d >= 0 && d <= 9 ? d : -100_000;
}

/**
 * `Date.parse` of the UTF-8 text at [from, to) of `b`, without making the string when it has the
 * form every stored record has (YYYY-MM-DDTHH:MM:SS.sssZ, year 100 or later, fields in range:
 * Date.UTC then gives what Date.parse gives, day overflow included); anything else goes to
 * Date.parse itself.
 */
export function isoMillis(b: Buffer, from: number, to: number): number {
  if (
    to - from === 24 &&
    b[from + 4] === 45 && b[from + 7] === 45 && b[from + 10] === 84 && b[from + 13] === 58 &&
    b[from + 16] === 58 && b[from + 19] === 46 && b[from + 23] === 90
  ) {
    const year = digit(b, from) * 1000 + digit(b, from + 1) * 100 + digit(b, from + 2) * 10 + digit(b, from + 3);
    const month = digit(b, from + 5) * 10 + digit(b, from + 6);
    const day = digit(b, from + 8) * 10 + digit(b, from + 9);
    const hour = digit(b, from + 11) * 10 + digit(b, from + 12);
    const minute = digit(b, from + 14) * 10 + digit(b, from + 15);
    const second = digit(b, from + 17) * 10 + digit(b, from + 18);
    const ms = digit(b, from + 20) * 100 + digit(b, from + 21) * 10 + digit(b, from + 22);
    if (year >= 100 && month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59 && ms >= 0) {
      return Date.UTC(year, month - 1, day, hour, minute, second, ms);
    }
  }
  return Date.parse(b.toString('utf8', from, to));
}

/** Whether a native page holds the seqs from..to, each once and in order. */
function holdsEachSeq(page: Buffer, from: number, to: number): boolean {
  const n = page.readUInt32LE(0);
  if (n !== to - from + 1) return false;
  for (let i = 0, e = N_HEADER; i < n; i++, e += N_ENTRY) if (page.readUInt32LE(e) + page.readInt32LE(e + 4) * TWO_32 !== from + i) return false;
  return true;
}

/** Whether 32 bytes at `a` of `x` equal 32 bytes at `b` of `y`. */
function same32(x: Buffer, a: number, y: Buffer, b: number): boolean {
  for (let k = 0; k < 32; k++) if (x[a + k] !== y[b + k]) return false;
  return true;
}

/**
 * SQLite's largest memory map (its compile-time SQLITE_MAX_MMAP_SIZE in better-sqlite3; larger values
 * are clamped to it): a database up to this size is read in place, beyond it the rest by read calls.
 */
const VERIFY_MMAP_BYTES = 0x7fff0000;

/**
 * A read-only connection of its own to the database of a data dir, for verification: it reads the
 * database through a memory map (PRAGMA mmap_size), so a page is read where it lies in the kernel's
 * page cache instead of copied by a read call into SQLite's cache (a sixth of the CPU of reading
 * every record). The database file only grows (no VACUUM, no auto_vacuum; dropped partitions leave
 * free pages), so no mapped page is ever cut off under a reader.
 */
export function openVerificationConnection(dataDir: string): SqliteDb {
  const db = openDatabase(dataDir, { readonly: true });
  db.pragma(`mmap_size = ${VERIFY_MMAP_BYTES}`);
  return db;
}

export class SqliteChainReader {
  private readonly fastPage: Database.Statement;
  private readonly plainRow: Database.Statement;
  private readonly selectHead: Database.Statement;
  private readonly codec: SealedFieldCodec;
  private readonly tokens: PatientTokenCache;
  private readonly scan = new DerivedFieldScan();
  /** Which path verification takes over this connection (the native extension, or JavaScript and why). */
  readonly path: VerificationPath;
  private readonly nativePage: Database.Statement | null = null;
  private readonly nativeOrderedPage: Database.Statement | null = null;
  private readonly lastSeq: Database.Statement | null = null;
  private readonly keysTried = new Set<string>();
  private tokenKeyTried = false;
  private patientOk: Database.Statement | null = null;

  constructor(
    private readonly db: SqliteDb,
    private readonly protection: FieldProtection,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.path = loadNativeChainCheck(db, env);
    if (this.path.native) {
      this.nativePage = db.prepare(NATIVE_PAGE_SQL).pluck(true);
      this.nativeOrderedPage = db.prepare(NATIVE_ORDERED_PAGE_SQL).pluck(true);
      this.lastSeq = db.prepare(LAST_SEQ_SQL).pluck(true);
    }
    this.fastPage = db.prepare(FAST_PAGE_SQL).raw(true);
    this.plainRow = db.prepare(PLAIN_ROW_SQL);
    this.selectHead = db.prepare('SELECT seq, hash FROM chain_heads WHERE chain = ?');
    this.codec = new SealedFieldCodec(protection.dataKeys);
    this.tokens = new PatientTokenCache((id) => protection.patientToken(id));
  }

  /** A reader over its own read-only connection to the database of a data dir (openVerificationConnection). */
  static open(dataDir: string, protection: FieldProtection): SqliteChainReader {
    return new SqliteChainReader(openVerificationConnection(dataDir), protection);
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
    for (const page of this.readChainRuns(chain, fromSeq, toSeq, pageSize)) {
      const rows: ChainRow[] = [];
      for (const part of page) {
        if (isCheckedRun(part)) for (let i = 0; i < part.count; i++) rows.push(part.row(i));
        else rows.push(part);
      }
      yield rows;
    }
  }

  /**
   * The same rows, page by page, with the fast-path rows of a page grouped into CheckedRuns (the
   * verifier accepts a run in one step) and every other row as the ChainRow readChain gives.
   */
  *readChainRuns(chain: string, fromSeq: number, toSeq?: number, pageSize = 5000): Generator<(ChainRow | CheckedRun)[]> {
    let next = fromSeq;
    const end = toSeq ?? Number.MAX_SAFE_INTEGER;
    if (this.nativePage !== null && this.nativeOrderedPage !== null && this.lastSeq !== null) {
      const head = Buffer.from(`{"chain":${JSON.stringify(chain)},"event":`, 'utf8');
      const last = Math.min(end, (this.lastSeq.get(chain) as number | null) ?? -1);
      while (next <= last) {
        // The next pageSize seqs: when each is there once, in order, this is the page the store gives.
        const to = Math.min(last, next + pageSize - 1);
        const page = this.nativePage.get(head, chain, next, to) as Buffer | null;
        if (page !== null && (this.registerMissingKey(page) || this.registerTokenKey(page))) continue; // the same page again
        if (page !== null && holdsEachSeq(page, next, to)) {
          yield this.nativeRows(page, page.readUInt32LE(0)).rows;
          next = to + 1;
          continue;
        }
        // A gap, a seq twice, out of order or not an integer: the next pageSize rows in seq order, as the store pages them.
        const ordered = this.nativeOrderedPage.get(head, chain, next, end, pageSize) as Buffer | null;
        if (ordered === null) return;
        if (this.registerMissingKey(ordered) || this.registerTokenKey(ordered)) continue;
        const rows = ordered.readUInt32LE(0);
        const out = this.nativeRows(ordered, rows);
        yield out.rows;
        if (rows < pageSize) return;
        next = out.lastSeq + 1;
      }
      return;
    }
    const builder = new RecordHashBuilder(chain);
    for (;;) {
      const raw = this.fastPage.all(chain, next, end, pageSize) as FastRaw[];
      if (raw.length === 0) return;
      yield this.fastRows(raw, builder);
      if (raw.length < pageSize) return;
      next = raw[raw.length - 1][0] + 1;
    }
  }

  /**
   * Runs only the page query over the range and returns the rows it gave (nothing decoded or
   * checked): the SQLite share of the fast path, for the verification benchmark's floor.
   */
  readPageQueryOnly(chain: string, fromSeq: number, toSeq: number, pageSize = 500): number {
    let n = 0;
    for (let next = fromSeq; ; ) {
      const raw = this.fastPage.all(chain, next, toSeq, pageSize) as FastRaw[];
      n += raw.length;
      if (raw.length < pageSize) return n;
      next = raw[raw.length - 1][0] + 1;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The receive time and event text of a stored row (by rowid), as readChain gives them. */
  rowText(pos: number): { receivedAt: string; eventJson: string } {
    const r = this.plainRow.get(pos) as PlainRow;
    return { receivedAt: r.received_at, eventJson: this.decode(r.event, r.sealed) };
  }

  /**
   * A data key the extension met and does not have: given to it (once per key id) when the keyring
   * has it, and true (read the page again). Otherwise the rows sealed with it were flagged and the
   * ordinary path says what is wrong with them (an unknown key id, or a missing key file).
   */
  private registerMissingKey(page: Buffer): boolean {
    const keyLength = page.readUInt32LE(12);
    if (keyLength === 0) return false;
    const at = page.readUInt32LE(8);
    const keyId = page.toString('latin1', at, at + keyLength);
    if (this.keysTried.has(keyId)) return false;
    this.keysTried.add(keyId);
    const key = this.protection.dataKeys.byId(keyId);
    if (key === undefined) return false;
    const raw = key.export();
    try {
      this.db.prepare('SELECT audit_data_key(?, ?)').get(Buffer.from(keyId, 'latin1'), raw);
    } finally {
      raw.fill(0);
    }
    return true;
  }

  /**
   * The first page with patient columns the extension could not confirm: gives it the tokenization
   * key (once per connection, when the field protection hands it out) and true (read the page
   * again). From then on the extension computes the token of every id that is its own canonical
   * form; the others stay pending and are checked here. Without the key, pending pairs are
   * confirmed here and remembered by the extension (audit_patient_ok).
   */
  private registerTokenKey(page: Buffer): boolean {
    if (this.tokenKeyTried) return false;
    const pendingStart = page.readUInt32LE(4);
    const pendingEnd = page.readUInt32LE(8) || page.length;
    if (pendingEnd <= pendingStart) return false;
    this.tokenKeyTried = true;
    let raw: Buffer | undefined;
    try {
      raw = this.protection.patientTokenKey?.();
    } catch {
      return false; // the ordinary check (patientToken) meets the same problem and reports it
    }
    if (raw === undefined) return false;
    try {
      this.db.prepare('SELECT audit_token_key(?)').get(raw);
    } catch {
      return false; // an extension built before audit_token_key: tokens are checked here, as before
    } finally {
      raw.fill(0);
    }
    return true;
  }

  /**
   * The rows of a native page: runs of rows the extension checked (status 0, or a patient pair
   * confirmed here), every other row read again and decoded the ordinary way.
   */
  private nativeRows(page: Buffer, n: number): { rows: (ChainRow | CheckedRun)[]; lastSeq: number } {
    const pendingStart = page.readUInt32LE(4);
    const out: (ChainRow | CheckedRun)[] = [];
    let run: NativeRun | null = null;
    let confirmed: Buffer[] | null = null;
    let lastSeq = -1;
    for (let i = 0, e = N_HEADER; i < n; i++, e += N_ENTRY) {
      const seq = page.readUInt32LE(e) + page.readInt32LE(e + 4) * TWO_32;
      let status = page[e + 80];
      if (status === N_PATIENT_PENDING || status === N_PATIENT_PENDING_LEGACY) {
        const at = pendingStart + page.readUInt32LE(e + 84);
        const idLength = page.readUInt32LE(at);
        const columnAt = at + 4 + idLength;
        const columnLength = page.readUInt32LE(columnAt);
        const id = page.toString('utf8', at + 4, columnAt);
        const column = page.toString('utf8', columnAt + 4, columnAt + 4 + columnLength);
        const legacy = status === N_PATIENT_PENDING_LEGACY;
        if (patientMismatch(id, column, this.tokens, legacy)) status = -1;
        else {
          status = N_CHECKED;
          // A token match (not a pre-encryption id) is the pair the extension may accept itself from now on.
          if (!legacy || column !== id) (confirmed ??= []).push(page.subarray(at, columnAt + 4 + columnLength));
        }
      }
      if (status !== N_CHECKED) {
        run = null;
        const row = this.readAgain(page.readUInt32LE(e + 8) + page.readInt32LE(e + 12) * TWO_32);
        lastSeq = row.seq;
        out.push(row);
        continue;
      }
      lastSeq = seq;
      if (run !== null && page[e + 81] === 1) run.count++;
      else out.push((run = new NativeRun(page, e, seq, this)));
    }
    if (confirmed !== null) (this.patientOk ??= this.db.prepare('SELECT audit_patient_ok(?)')).get(Buffer.concat(confirmed));
    return { rows: out, lastSeq };
  }

  /** The event text readChain gives for a stored row (SqliteEventStore.eventTexts, mode verify). */
  decode(stored: string, sealed: Buffer | null): string {
    if (sealed === null) return stored;
    const opened = this.codec.openForVerification([{ storedJson: stored, sealed }])[0];
    if (typeof opened === 'string') return opened;
    // A key id the keyring never listed was written by someone else: tampering, hashed as the stored
    // text. A listed key whose file is gone (or no keyring at all) is a set-up problem: say so.
    if (opened.reason === 'unknown-key' && this.protection.dataKeys.lists(opened.keyId!) !== false) throw new DataKeyUnavailableError(opened.keyId!);
    return stored;
  }

  private fastRows(raw: FastRaw[], builder: RecordHashBuilder): (ChainRow | CheckedRun)[] {
    const n = raw.length;
    let size = 0;
    for (let i = 0; i < n; i++) {
      const h = raw[i][3];
      if (h !== null) size += h.length >>> 1;
    }
    // One buffer for the page: runs and rows keep views into it (their hashes), never a copy per row.
    const bytes = Buffer.allocUnsafe(size);
    const offsets = new Int32Array(n);
    const sealedLengths = new Int32Array(n);
    for (let i = 0, at = 0; i < n; i++) {
      const h = raw[i][3];
      offsets[i] = at;
      if (h === null) continue; // read again below
      const w = bytes.write(h, at, 'hex');
      sealedLengths[i] = w - HASHES;
      at += w;
    }
    const page: PageBytes = { bytes, offsets, sealedLengths };
    const { plain, starts, plainLengths, errors } = this.codec.openPageForVerification(bytes, offsets, sealedLengths);
    const out: (ChainRow | CheckedRun)[] = [];
    let run: PageRun | null = null;
    let previous = -1; // index of the run's last row
    for (let i = 0; i < n; i++) {
      const r = raw[i];
      const at = offsets[i];
      const sl = sealedLengths[i];
      const fast =
        r[3] !== null &&
        typeof r[1] === 'string' &&
        typeof r[2] === 'string' &&
        Number.isSafeInteger(r[0]) &&
        r[4] !== null &&
        errors[i] === undefined &&
        this.hashMatches(builder, r[2], bytes, at + sl, r[1], r[0], sl > 0 ? starts[i] : -1, plain, plainLengths[i]) &&
        this.columnsMatch(builder, r, sl === 0);
      if (!fast) {
        run = null;
        out.push(this.readAgain(r[7]));
        continue;
      }
      if (run !== null && r[0] === run.firstSeq + run.count && same32(bytes, at + sl, bytes, offsets[previous] + sealedLengths[previous] + 32)) run.count++;
      else out.push((run = new PageRun(raw, page, i, r[0], this)));
      previous = i;
    }
    return out;
  }

  /**
   * Splices the opened values into the stored text in bytes and hashes the record. False when the
   * stored text is not ASCII (offsets are UTF-16 units), the opened fields do not fit it (as
   * `splice` in sealed-fields.ts checks), or the hash differs: the caller then reads the row the
   * ordinary way and the verifier judges it.
   */
  private hashMatches(
    b: RecordHashBuilder,
    stored: string,
    /** prev_hash || hash are the 64 bytes at `hashesAt` of `page`. */
    page: Buffer,
    hashesAt: number,
    receivedAt: string,
    seq: number,
    start: number,
    plain: Buffer,
    plainLength: number,
  ): boolean {
    b.beginAt(page, hashesAt);
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
    return same32(b.finish(receivedAt, seq), 0, page, hashesAt + 32);
  }

  /**
   * The derived-column check of a row whose hash matched, on the bytes that hash covers (the
   * builder's event JSON): true only when every column certainly equals what the record gives
   * (derived-columns.ts mismatchOf). The five text columns come as their JSON literals one after the
   * other, and must equal the record's literals of those fields one after the other, byte for byte
   * (literals end at their closing quote, so equal sequences mean equal literals, and equal literals
   * equal values); occurred_ms is the record's occurredAt parsed; the patient column is the token of
   * the record's patient id (or, on a row stored before field encryption, the id itself). False
   * (anything not certain: escapes, non-ASCII, a field missing): the ordinary path decides and names
   * the column.
   */
  private columnsMatch(builder: RecordHashBuilder, r: FastRaw, legacyPatientIds: boolean): boolean {
    const b = builder.bytes;
    const scan = this.scan;
    if (!scan.scan(b, builder.eventStart, builder.eventEnd)) return false;
    const at = scan.at;
    const literals = r[4] as string;
    let p = 0;
    for (const slot of LITERAL_FIELDS) {
      const from = at[slot];
      if (from < 0) return false;
      const n = at[slot + 1] - from;
      if (p + n > literals.length) return false;
      for (let k = 0; k < n; k++) {
        const c = b[from + k];
        if (c >= 0x80 || literals.charCodeAt(p + k) !== c) return false;
      }
      p += n;
    }
    if (p !== literals.length) return false;
    const occurred = at[DerivedField.OccurredAt];
    if (occurred < 0 || scan.hasEscape(DerivedField.OccurredAt) || typeof r[5] !== 'number') return false;
    if (isoMillis(b, occurred + 1, at[DerivedField.OccurredAt + 1] - 1) !== r[5]) return false;
    const column = r[6] as string | null;
    const patient = at[DerivedField.PatientId];
    if (patient < 0) return column === null;
    if (column === null) return false;
    let id = b.toString('utf8', patient + 1, at[DerivedField.PatientId + 1] - 1);
    if (scan.hasEscape(DerivedField.PatientId)) {
      try {
        id = JSON.parse(`"${id}"`) as string;
      } catch {
        return false;
      }
    }
    return !patientMismatch(id, column, this.tokens, legacyPatientIds);
  }

  /** A row of a fast page read again by its rowid and decoded exactly as SqliteEventStore.readChain does. */
  private readAgain(pos: number): ChainRow {
    return this.toChainRow(this.plainRow.get(pos) as PlainRow);
  }

  private toChainRow(r: PlainRow): ChainRow {
    const o = this.codec.openForVerification([{ storedJson: r.event, sealed: r.sealed }])[0];
    let text: string;
    if (typeof o === 'string') text = o;
    else {
      if (!(o instanceof SealedRecordError)) throw o;
      if (o.reason === 'unknown-key' && this.protection.dataKeys.lists(o.keyId!) !== false) throw new DataKeyUnavailableError(o.keyId!);
      text = r.event;
    }
    const row: ChainRow = { seq: r.seq, receivedAt: r.received_at, eventJson: text, prevHash: r.prev_hash, hash: r.hash };
    const column = derivedColumnMismatch(text, r, this.tokens, r.sealed === null);
    if (column !== null) row.columnMismatch = column;
    return row;
  }
}
