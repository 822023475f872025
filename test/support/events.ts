/** Builders of valid canonical events for tests; the identifiers they carry are PHI markers no service log may contain. */
import { randomUUID } from 'node:crypto';
import { AccessEvent } from '@app/core';
import { registerPhiMarkers } from './log-capture';

export function accessEvent(overrides: Partial<AccessEvent> = {}): AccessEvent {
  const event: AccessEvent = {
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
  registerPhiMarkers('patient-id', [event.patient?.id]);
  registerPhiMarkers('ip', [event.actor?.ip]);
  if (event.actor?.type === 'user') registerPhiMarkers('actor-id', [event.actor.id]);
  return event;
}
