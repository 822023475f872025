/** Alert delivery (`@app/detection/delivery`): destinations file, outbox, dispatcher, senders, Nest module. */
export * from './alert-delivery.module';
export * from './alert-dispatcher';
export * from './alert-message';
export * from './delivery-outbox.port';
export * from './delivery-outbox';
export * from './destinations-config';
export * from './senders';
export * from './webhook-sender';
export * from './syslog-sender';
export * from './email-sender';
