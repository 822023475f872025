/**
 * E-mail delivery through nodemailer over SMTP with STARTTLS required (the message is never sent
 * in clear): subject from the alert's severity and title, a text body with the rule, reasons,
 * window, tokens and the console link, and the delivery id as Message-ID and X-Audit-Delivery-Id.
 */
import nodemailer, { Transporter } from 'nodemailer';
import { DeliveryMessage, headline, textBody } from './alert-message';
import type { EmailDestination } from './destinations-config';
import { AlertSender, DeliveryError, trustedContext } from './webhook-sender';

export class EmailSender implements AlertSender {
  private readonly transport: Transporter;

  constructor(private readonly d: EmailDestination) {
    this.transport = nodemailer.createTransport({
      host: d.host,
      port: d.port,
      secure: false,
      requireTLS: true,
      // The trust store parsed once, not on each mail's STARTTLS.
      tls: { minVersion: 'TLSv1.2', ...(d.ca ? { secureContext: trustedContext(d.ca) } : {}) },
      ...(d.username ? { auth: { user: d.username, pass: d.password ?? '' } } : {}),
      connectionTimeout: d.timeoutMs,
      greetingTimeout: d.timeoutMs,
      socketTimeout: d.timeoutMs,
    });
  }

  async send(m: DeliveryMessage): Promise<void> {
    try {
      await this.transport.sendMail({
        from: this.d.from,
        to: this.d.to,
        subject: headline(m),
        text: textBody(m),
        messageId: `<${m.deliveryId}@hipaa-audit.invalid>`,
        headers: { 'X-Audit-Delivery-Id': m.deliveryId, 'X-Audit-Event': m.kind },
      });
    } catch (err) {
      const e = err as { code?: string; responseCode?: number };
      throw new DeliveryError(e.responseCode ? `SMTP ${e.responseCode}` : (e.code ?? 'SMTP error'));
    }
  }

  close(): void {
    this.transport.close();
  }
}
