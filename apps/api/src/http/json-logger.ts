/**
 * Structured JSON logger (one object per line on stdout). Callers log facts, never PHI: no
 * request bodies, no query strings, no patient or user identifiers. As a second line of defence
 * the logger drops any context field whose name suggests an identifier.
 */
import { LoggerService } from '@nestjs/common';
import { lineSink } from '@app/core';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof LEVELS;

const FORBIDDEN_KEYS = /^(patient|patientId|actor|actorId|ip|body|query|url|token|authorization)$/i;

function stdoutLines(line: string): void {
  lineSink('stdout')(line + '\n');
}

export class JsonLogger implements LoggerService {
  constructor(
    private readonly minLevel: Level = 'info',
    // A failing stdout (full disk, closed pipe) drops and counts the line, never throws (log-sink.ts).
    private readonly out: (line: string) => void = stdoutLines,
  ) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }

  /** Logs a structured event with extra fields (names checked against the identifier denylist). */
  event(level: Level, msg: string, fields: Record<string, string | number | boolean | null | undefined>): void {
    if (LEVELS[level] < LEVELS[this.minLevel]) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level, msg };
    for (const [k, v] of Object.entries(fields)) if (!FORBIDDEN_KEYS.test(k) && v !== undefined) entry[k] = v;
    this.out(JSON.stringify(entry));
  }

  /** Start-up and shutdown facts operators and scripts rely on: written whatever LOG_LEVEL says. */
  announce(msg: string, fields: Record<string, string | number | boolean | null | undefined>): void {
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: 'info', msg };
    for (const [k, v] of Object.entries(fields)) if (!FORBIDDEN_KEYS.test(k) && v !== undefined) entry[k] = v;
    this.out(JSON.stringify(entry));
  }

  private write(level: Level, message: unknown, rest: unknown[]): void {
    if (LEVELS[level] < LEVELS[this.minLevel]) return;
    // Nest passes the context (a class name) as the last string argument.
    const context = rest.length > 0 && typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : undefined;
    // A structured fact through Nest's Logger: { fact: msg, ...fields } (field names checked as in event()).
    if (message !== null && typeof message === 'object' && typeof (message as { fact?: unknown }).fact === 'string') {
      const { fact, ...fields } = message as Record<string, unknown>;
      const entry: Record<string, unknown> = { time: new Date().toISOString(), level, msg: fact };
      if (context) entry.context = context;
      for (const [k, v] of Object.entries(fields)) if (!FORBIDDEN_KEYS.test(k) && v !== undefined && (v === null || typeof v !== 'object')) entry[k] = v;
      this.out(JSON.stringify(entry));
      return;
    }
    const text = message instanceof Error ? `${message.name}: ${message.message}` : typeof message === 'string' ? message : JSON.stringify(message);
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level, msg: text };
    if (context) entry.context = context;
    this.out(JSON.stringify(entry));
  }
}
