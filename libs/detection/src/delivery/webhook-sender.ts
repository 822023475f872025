/**
 * Webhook delivery: one HTTPS POST per message, JSON, signed with the destination's secret
 * (`x-audit-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`), with the delivery id
 * in `x-audit-delivery-id`. Presets shape the body for Slack, Microsoft Teams and PagerDuty Events
 * v2. Any status outside 2xx, a timeout or a closed connection is a failure the dispatcher retries.
 */
import { createHmac } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { DeliveryMessage, headline, textBody } from './alert-message';
import type { WebhookDestination } from './destinations-config';

export interface AlertSender {
  send(message: DeliveryMessage): Promise<void>;
  close(): void;
}

/** A failure with a short, PHI-free reason (an HTTP status, an error code). */
export class DeliveryError extends Error {}

export function signature(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`;
}

const PD_SEVERITY: Record<string, string> = { critical: 'critical', high: 'error', medium: 'warning', low: 'info' };

export function webhookBody(d: WebhookDestination, m: DeliveryMessage): unknown {
  const title = headline(m);
  switch (d.preset) {
    case 'slack':
      return {
        text: title,
        blocks: [
          { type: 'section', text: { type: 'mrkdwn', text: `*${title}*` } },
          ...m.alerts.slice(0, 20).map((a) => ({ type: 'section', text: { type: 'mrkdwn', text: `${a.severity.toUpperCase()} ${a.title} (\`${a.ruleId}\`; ${a.reasons.join(', ')}) <${a.link}|open in console>` } })),
          { type: 'context', elements: [{ type: 'mrkdwn', text: `delivery ${m.deliveryId}` }] },
        ],
      };
    case 'teams':
      return {
        '@type': 'MessageCard',
        '@context': 'https://schema.org/extensions',
        summary: title,
        themeColor: m.alerts.some((a) => a.severity === 'critical' || a.severity === 'high') ? 'C4314B' : 'FFB900',
        title,
        text: textBody(m).replace(/\n/g, '<br>'),
        potentialAction: m.alerts.length === 1 ? [{ '@type': 'OpenUri', name: 'Open in console', targets: [{ os: 'default', uri: m.alerts[0].link }] }] : [],
      };
    case 'pagerduty': {
      const top = m.alerts.reduce((s, a) => (['low', 'medium', 'high', 'critical'].indexOf(a.severity) > ['low', 'medium', 'high', 'critical'].indexOf(s) ? a.severity : s), 'low');
      return {
        routing_key: d.routingKey,
        event_action: 'trigger',
        dedup_key: m.deliveryId,
        payload: { summary: title.slice(0, 1024), source: 'hipaa-audit', severity: PD_SEVERITY[top] ?? 'warning', custom_details: { alerts: m.alerts, count: m.count } },
        links: m.alerts.slice(0, 10).map((a) => ({ href: a.link, text: `alert ${a.id}` })),
      };
    }
    default:
      return { deliveryId: m.deliveryId, kind: m.kind, destination: m.destination, count: m.count, alerts: m.alerts };
  }
}

/** A TLS context trusting the system roots plus `ca` (and presenting a client certificate when given), built once. */
export function trustedContext(ca: string, client?: { cert: string; key: string }): tls.SecureContext {
  return tls.createSecureContext({ ca: [...tls.rootCertificates, ca], ...(client ?? {}), minVersion: 'TLSv1.2' });
}

export class WebhookSender implements AlertSender {
  private readonly agent: http.Agent;

  constructor(private readonly d: WebhookDestination) {
    const url = new URL(d.url);
    // The trust store is parsed once here, not per connection, and is not handed to the agent as
    // `ca` (the agent would join every root certificate into its pool key on each request).
    this.agent =
      url.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 8, ...(d.ca ? { secureContext: trustedContext(d.ca) } : {}) })
        : new http.Agent({ keepAlive: true, maxSockets: 8 });
  }

  send(m: DeliveryMessage): Promise<void> {
    const body = JSON.stringify(webhookBody(this.d, m));
    const url = new URL(this.d.url);
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'user-agent': 'hipaa-audit-alert-delivery/1',
      'x-audit-delivery-id': m.deliveryId,
      'x-audit-event': m.kind,
    };
    if (this.d.secret) headers['x-audit-signature'] = signature(this.d.secret, body, Math.floor(Date.now() / 1000));
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<void>((resolve, reject) => {
      const req = lib.request(url, { method: 'POST', headers, agent: this.agent, timeout: this.d.timeoutMs }, (res) => {
        res.resume();
        res.on('end', () => {
          const s = res.statusCode ?? 0;
          if (s >= 200 && s < 300) resolve();
          else reject(new DeliveryError(`HTTP ${s}`));
        });
        res.on('error', (err: NodeJS.ErrnoException) => reject(new DeliveryError(err.code ?? 'response error')));
      });
      req.on('timeout', () => req.destroy(new DeliveryError('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => reject(err instanceof DeliveryError ? err : new DeliveryError(err.code ?? 'connection error')));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
