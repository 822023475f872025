/**
 * The EventBus contract: what the ingest API relies on from any bus (in-process to the chain
 * writer, Kafka, the in-memory fake): once started it is ready; publish answers one receipt per
 * event, in order, of the kind the bus says it acknowledges, and only once every event is durable
 * where the other side reads it (the store, or the topic). Producer settings, grouping, partitions
 * and Kafka faults stay in the Kafka adapter's spec.
 */
import { randomUUID } from 'node:crypto';
import { AccessEvent } from '@app/core';
import { canonicalize } from '@app/ledger';
import { BusEvent, EventBus, isQueuedReceipt } from '@app/storage';

export interface OpenedEventBus {
  bus: EventBus;
  /** Ids of the events durably held where the consuming side reads them (the store, or the topic). */
  durableIds(): Promise<string[]>;
  close(): Promise<void>;
}

export function busEvent(overrides: Partial<AccessEvent> = {}): BusEvent {
  const event: AccessEvent = {
    id: randomUUID(),
    occurredAt: '2026-03-02T10:15:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'dr-alice', type: 'user' },
    source: { system: 'ehr-gateway' },
    ...overrides,
  };
  return { event, json: canonicalize(event) };
}

export function describeEventBusContract(name: string, open: () => Promise<OpenedEventBus>): void {
  describe(`EventBus contract: ${name}`, () => {
    let opened: OpenedEventBus;
    let bus: EventBus;
    beforeEach(async () => {
      opened = await open();
      bus = opened.bus;
      await bus.start();
    });
    afterEach(async () => {
      await bus.close();
      await opened.close();
    });

    it('is ready once started; publishing nothing answers nothing', async () => {
      expect(bus.isReady()).toBe(true);
      expect(await bus.publish([])).toEqual([]);
      expect(await opened.durableIds()).toEqual([]);
    });

    it('answers one receipt per event, in order, of the kind it acknowledges, once every event is durable', async () => {
      const events = [busEvent(), busEvent({ category: 'authentication', action: 'login' }), busEvent()];
      const receipts = await bus.publish(events);
      expect(receipts.map((r) => r.id)).toEqual(events.map((e) => e.event.id));
      if (bus.acknowledges === 'queued') {
        expect(receipts).toEqual(events.map((e) => ({ id: e.event.id, status: 'queued' })));
      } else {
        expect(receipts.some(isQueuedReceipt)).toBe(false);
        expect(receipts.map((r) => (isQueuedReceipt(r) ? null : [r.chain, r.seq]))).toEqual([
          ['data_access', 0],
          ['authentication', 0],
          ['data_access', 1],
        ]);
      }
      expect((await opened.durableIds()).sort()).toEqual(events.map((e) => e.event.id).sort());
    });

    it('publishes sent at once each get their own receipts, and all are durable', async () => {
      const batches = [[busEvent()], [busEvent(), busEvent()], [busEvent({ category: 'security', action: 'tls_handshake' })]];
      const answers = await Promise.all(batches.map((b) => bus.publish(b)));
      answers.forEach((receipts, i) => expect(receipts.map((r) => r.id)).toEqual(batches[i].map((e) => e.event.id)));
      expect((await opened.durableIds()).sort()).toEqual(batches.flat().map((e) => e.event.id).sort());
    });
  });
}
