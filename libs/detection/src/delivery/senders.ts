/** The sender of each destination type (webhook, syslog, e-mail). */
import type { Destination } from './destinations-config';
import { AlertSender, WebhookSender } from './webhook-sender';

export function senderFor(d: Destination): AlertSender {
  switch (d.type) {
    case 'webhook':
      return new WebhookSender(d);
    default:
      throw new Error(`destination type ${d.type} is not supported yet`);
  }
}
