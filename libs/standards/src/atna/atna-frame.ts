/**
 * One IHE ATNA syslog frame to one canonical event: RFC 5424 parsing, then the DICOM audit message
 * in MSG. The TLS listener calls this for every `frame` item of the OctetCountingFrameStream and
 * counts and logs the failures by `error.code` (they carry no PHI) without closing the connection.
 */
import { AccessEvent } from '@app/core';
import { AtnaError } from './atna-error';
import { DicomMappingOptions, mapDicomAuditMessage } from './dicom-audit.mapper';
import { parseRfc5424, SyslogMessage } from './rfc5424-parser';

export interface AtnaFrameOptions extends Omit<DicomMappingOptions, 'extraDetails'> {}

export type AtnaFrameResult =
  | { ok: true; event: AccessEvent; messageSha256: string; syslog: Omit<SyslogMessage, 'msg'> }
  | { ok: false; error: AtnaError };

const MAX_HEADER_DETAIL = 128;

export function mapAtnaSyslogFrame(frame: Buffer, options: AtnaFrameOptions = {}): AtnaFrameResult {
  try {
    const syslog = parseRfc5424(frame);
    if (syslog.msg.length === 0) {
      throw new AtnaError('syslog', 'syslog-empty-message', 'RFC 5424 MSG is empty: no audit message to map', 'MSG');
    }
    const extraDetails: Record<string, string> = {};
    if (syslog.hostname && syslog.hostname.length <= MAX_HEADER_DETAIL) extraDetails.syslogHostname = syslog.hostname;
    if (syslog.appName) extraDetails.syslogAppName = syslog.appName;
    if (syslog.msgId) extraDetails.syslogMsgId = syslog.msgId;
    const mapped = mapDicomAuditMessage(syslog.msg, { ...options, extraDetails });
    const { msg: _msg, ...header } = syslog;
    void _msg;
    return { ok: true, event: mapped.event, messageSha256: mapped.messageSha256, syslog: header };
  } catch (e) {
    if (e instanceof AtnaError) return { ok: false, error: e };
    // Anything else is a bug; never let its message (which could quote content) escape.
    return { ok: false, error: new AtnaError('mapping', 'invalid-value', 'audit message could not be mapped') };
  }
}
