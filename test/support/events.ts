/** Builders of valid canonical events for tests. */
import { randomUUID } from 'node:crypto';
import { AccessEvent } from '@app/core';

export function accessEvent(overrides: Partial<AccessEvent> = {}): AccessEvent {
  return {
    id: randomUUID(),
    occurredAt: '2026-03-02T10:15:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'dr-alice', type: 'user', role: 'physician', ip: '10.1.2.3' },
    patient: { id: 'MRN-0001' },
    resource: { type: 'Observation', id: 'obs-1' },
    purpose: 'TREAT',
    source: { system: 'ehr-gateway', integration: 'sample-ehr' },
    ...overrides,
  };
}
