/**
 * RFC 5424 syslog message parser (the payload of one RFC 5425 frame): PRI, VERSION, TIMESTAMP,
 * HOSTNAME, APP-NAME, PROCID, MSGID, STRUCTURED-DATA and MSG (with its optional UTF-8 BOM).
 * Works on bytes, so MSG is handed on untouched; errors name the field, never its content.
 */
import { AtnaError } from './atna-error';

export interface SyslogStructuredDataElement {
  id: string;
  params: Array<{ name: string; value: string }>;
}

export interface SyslogMessage {
  facility: number;
  severity: number;
  version: number;
  /** RFC 3339 timestamp as sent, or null for the NILVALUE. */
  timestamp: string | null;
  hostname: string | null;
  appName: string | null;
  procId: string | null;
  msgId: string | null;
  structuredData: SyslogStructuredDataElement[];
  /** MSG without its BOM; empty when the message has none. */
  msg: Buffer;
  /** True when MSG began with the UTF-8 BOM (RFC 5424 MSG-UTF8). */
  msgHasBom: boolean;
}

const SP = 0x20;
const NIL = 0x2d; // '-'
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const MAX_SD_ELEMENTS = 64;
const MAX_SD_PARAMS = 128;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-](\d{2}):(\d{2}))$/;

const HEADER_FIELDS = [
  { name: 'HOSTNAME', max: 255 },
  { name: 'APP-NAME', max: 48 },
  { name: 'PROCID', max: 128 },
  { name: 'MSGID', max: 32 },
] as const;

function malformed(field: string, what = 'is malformed'): AtnaError {
  return new AtnaError('syslog', 'syslog-malformed', `RFC 5424 ${field} ${what}`, field);
}

class Cursor {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  peek(): number {
    return this.buf[this.pos];
  }

  expect(byte: number, field: string): void {
    if (this.buf[this.pos] !== byte) throw malformed(field);
    this.pos++;
  }

  /** A run of PRINTUSASCII (33..126) up to the next space or the end. */
  token(field: string, max: number): string {
    const start = this.pos;
    while (this.pos < this.buf.length && this.buf[this.pos] !== SP) {
      const b = this.buf[this.pos];
      if (b < 33 || b > 126) throw malformed(field, 'holds a character outside printable US-ASCII');
      this.pos++;
    }
    const length = this.pos - start;
    if (length === 0) throw malformed(field, 'is empty');
    if (length > max) throw malformed(field, `is longer than ${max} characters`);
    return this.buf.toString('latin1', start, this.pos);
  }
}

function validTimestamp(value: string): boolean {
  const m = TIMESTAMP.exec(value);
  if (!m) return false;
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return false;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return false;
  return !Number.isNaN(Date.parse(value));
}

function isSdNameByte(b: number): boolean {
  return b >= 33 && b <= 126 && b !== 0x3d && b !== 0x5d && b !== 0x22; // not '=', ']', '"'
}

function sdName(c: Cursor, field: string): string {
  const start = c.pos;
  while (!c.done && isSdNameByte(c.peek())) c.pos++;
  const length = c.pos - start;
  if (length === 0 || length > 32) throw malformed(field);
  return c.buf.toString('latin1', start, c.pos);
}

/** PARAM-VALUE: UTF-8 up to the closing quote; `\"`, `\\` and `\]` are escapes, other backslashes stay. */
function paramValue(c: Cursor): string {
  const bytes: number[] = [];
  for (;;) {
    if (c.done) throw malformed('STRUCTURED-DATA', 'has an unterminated PARAM-VALUE');
    const b = c.buf[c.pos++];
    if (b === 0x22) break;
    if (b === 0x5c && !c.done) {
      const next = c.peek();
      if (next === 0x22 || next === 0x5c || next === 0x5d) {
        bytes.push(next);
        c.pos++;
        continue;
      }
    }
    bytes.push(b);
  }
  return Buffer.from(bytes).toString('utf8');
}

function structuredData(c: Cursor): SyslogStructuredDataElement[] {
  if (c.peek() === NIL) {
    c.pos++;
    return [];
  }
  const elements: SyslogStructuredDataElement[] = [];
  while (!c.done && c.peek() === 0x5b) {
    if (elements.length >= MAX_SD_ELEMENTS) throw malformed('STRUCTURED-DATA', `has more than ${MAX_SD_ELEMENTS} elements`);
    c.pos++; // '['
    const id = sdName(c, 'STRUCTURED-DATA');
    const params: SyslogStructuredDataElement['params'] = [];
    while (c.peek() === SP) {
      c.pos++;
      if (params.length >= MAX_SD_PARAMS) throw malformed('STRUCTURED-DATA', `has more than ${MAX_SD_PARAMS} parameters in one element`);
      const name = sdName(c, 'STRUCTURED-DATA');
      c.expect(0x3d, 'STRUCTURED-DATA');
      c.expect(0x22, 'STRUCTURED-DATA');
      params.push({ name, value: paramValue(c) });
    }
    c.expect(0x5d, 'STRUCTURED-DATA');
    elements.push({ id, params });
  }
  if (elements.length === 0) throw malformed('STRUCTURED-DATA');
  return elements;
}

/** Parses one RFC 5424 message; throws an AtnaError (stage `syslog`) naming the bad field. */
export function parseRfc5424(frame: Buffer): SyslogMessage {
  const c = new Cursor(frame);
  c.expect(0x3c, 'PRI');
  const priStart = c.pos;
  while (!c.done && c.peek() >= 0x30 && c.peek() <= 0x39 && c.pos - priStart < 4) c.pos++;
  const priDigits = c.pos - priStart;
  if (priDigits < 1 || priDigits > 3) throw malformed('PRI');
  const prival = Number(frame.toString('latin1', priStart, c.pos));
  if (prival > 191) throw malformed('PRI', 'is out of range');
  c.expect(0x3e, 'PRI');

  const versionStart = c.pos;
  while (!c.done && c.peek() >= 0x30 && c.peek() <= 0x39 && c.pos - versionStart < 4) c.pos++;
  const versionText = frame.toString('latin1', versionStart, c.pos);
  if (!/^[1-9][0-9]{0,2}$/.test(versionText)) throw malformed('VERSION');
  const version = Number(versionText);
  if (version !== 1) throw new AtnaError('syslog', 'syslog-unsupported-version', 'RFC 5424 VERSION is not 1', 'VERSION');
  c.expect(SP, 'VERSION');

  const rawTimestamp = c.token('TIMESTAMP', 64);
  const timestamp = rawTimestamp === '-' ? null : rawTimestamp;
  if (timestamp !== null && !validTimestamp(timestamp)) throw malformed('TIMESTAMP');
  c.expect(SP, 'TIMESTAMP');

  const header: Array<string | null> = [];
  for (let f = 0; f < HEADER_FIELDS.length; f++) {
    const field = HEADER_FIELDS[f];
    if (c.done) throw malformed(field.name, 'is missing');
    const value = c.token(field.name, field.max);
    header.push(value === '-' ? null : value);
    if (c.done) throw malformed(HEADER_FIELDS[f + 1]?.name ?? 'STRUCTURED-DATA', 'is missing');
    c.expect(SP, field.name);
  }

  if (c.done) throw malformed('STRUCTURED-DATA', 'is missing');
  const sd = structuredData(c);

  let msg: Buffer = Buffer.alloc(0);
  let msgHasBom = false;
  if (!c.done) {
    c.expect(SP, 'MSG');
    msg = frame.subarray(c.pos);
    if (msg.length >= 3 && msg.subarray(0, 3).equals(BOM)) {
      msg = msg.subarray(3);
      msgHasBom = true;
    }
  }

  return {
    facility: prival >> 3,
    severity: prival & 7,
    version,
    timestamp,
    hostname: header[0],
    appName: header[1],
    procId: header[2],
    msgId: header[3],
    structuredData: sd,
    msg,
    msgHasBom,
  };
}
