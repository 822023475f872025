/**
 * The one error type of the ATNA path (syslog parsing, XML parsing, DICOM audit mapping). Its
 * `code` is stable for metrics and its message is built only from fixed text and element names,
 * never from message content: no patient ids, user ids, host names or addresses end up in logs.
 */

export type AtnaStage = 'syslog' | 'xml' | 'mapping';

export type AtnaErrorCode =
  // RFC 5424
  | 'syslog-malformed'
  | 'syslog-unsupported-version'
  | 'syslog-empty-message'
  // XML safety and syntax
  | 'xml-too-large'
  | 'xml-dtd-forbidden'
  | 'xml-malformed'
  | 'xml-too-deep'
  // DICOM audit message content
  | 'not-an-audit-message'
  | 'missing-element'
  | 'invalid-value'
  | 'too-many-elements'
  | 'no-requestor'
  | 'invalid-mapped-event';

export class AtnaError extends Error {
  override readonly name = 'AtnaError';

  constructor(
    readonly stage: AtnaStage,
    readonly code: AtnaErrorCode,
    message: string,
    /** The syslog field or XML element/attribute concerned, e.g. `EventIdentification@EventDateTime`. */
    readonly element?: string,
  ) {
    super(element ? `${message} (${element})` : message);
  }

  /** A log- and metrics-safe summary (no message content). */
  toJSON(): { stage: AtnaStage; code: AtnaErrorCode; element?: string; message: string } {
    return { stage: this.stage, code: this.code, ...(this.element ? { element: this.element } : {}), message: this.message };
  }
}
