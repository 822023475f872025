/**
 * The canonical access event (CONTRACT "Canonical access event") and the facts derived from it
 * that the rest of the service relies on: categories, outcomes, and the chain an event belongs to.
 */

export const EVENT_CATEGORIES = [
  'authentication',
  'data_access',
  'data_modification',
  'security',
  'system_access',
  'administrative',
] as const;
export type EventCategory = (typeof EVENT_CATEGORIES)[number];

export const EVENT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type EventOutcome = (typeof EVENT_OUTCOMES)[number];

export const ACTOR_TYPES = ['user', 'service'] as const;
export type ActorType = (typeof ACTOR_TYPES)[number];

export interface AccessEvent {
  id: string;
  occurredAt: string;
  category: EventCategory;
  action: string;
  outcome: EventOutcome;
  actor: { id: string; type: ActorType; role?: string; ip?: string; userAgent?: string };
  patient?: { id: string };
  resource?: { type: string; id?: string };
  purpose?: string;
  /**
   * The search the actor made, as the source recorded it (a FHIR `entity.query`, an ATNA
   * ParticipantObjectQuery), decoded to text. PHI (`Patient?name=smith`): sealed at rest, shown only
   * to roles that see identified data (docs/fhir-mapping.md "The search string is PHI").
   */
  query?: { text: string };
  source: { system: string; integration?: string };
  recordCount?: number;
  tls?: { clientSubject?: string; result: 'success' | 'failure'; reason?: string };
  sensitivity?: string[];
  details?: Record<string, string | number | boolean>;
}

/** What an integration gets back once its event is durable. */
export interface Receipt {
  id: string;
  chain: string;
  seq: number;
  hash: string;
  /** Stored, but with something the sender should fix (e.g. its clock); no submitted value echoed. */
  warnings?: string[];
}

/** An event as stored: the event plus everything the chain hash covers. */
export interface StoredEvent {
  chain: string;
  seq: number;
  receivedAt: string;
  event: AccessEvent;
  prevHash: string;
  hash: string;
}
