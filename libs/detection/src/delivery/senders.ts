/** The sender of each destination type (webhook, syslog, e-mail). */
import type { Destination } from './destinations-config';
import { EmailSender } from './email-sender';
import { SyslogSender } from './syslog-sender';
import { AlertSender, WebhookSender } from './webhook-sender';

export function senderFor(d: Destination): AlertSender {
  switch (d.type) {
    case 'webhook':
      return new WebhookSender(d);
    case 'syslog':
      return new SyslogSender(d);
    case 'email':
      return new EmailSender(d);
  }
}
