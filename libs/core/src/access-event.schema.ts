/**
 * JSON Schema of the canonical access event. Strict: unknown fields anywhere are rejected
 * (minimum necessary), every string is bounded, `details` holds only flat scalars.
 */
import { ACTOR_TYPES, EVENT_CATEGORIES, EVENT_OUTCOMES } from './access-event';

const shortText = { type: 'string', minLength: 1, maxLength: 256 } as const;
const token = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:/-]*$' } as const;

export const ACCESS_EVENT_SCHEMA = {
  $id: 'https://schemas.local/access-event.json',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'occurredAt', 'category', 'action', 'outcome', 'actor', 'source'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    occurredAt: { type: 'string', maxLength: 64, format: 'date-time' },
    category: { type: 'string', enum: EVENT_CATEGORIES },
    action: token,
    outcome: { type: 'string', enum: EVENT_OUTCOMES },
    actor: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'type'],
      properties: {
        id: shortText,
        type: { type: 'string', enum: ACTOR_TYPES },
        role: { type: 'string', minLength: 1, maxLength: 128 },
        ip: { type: 'string', maxLength: 64, anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] },
        userAgent: { type: 'string', minLength: 1, maxLength: 512 },
      },
    },
    patient: {
      type: 'object',
      additionalProperties: false,
      required: ['id'],
      properties: { id: shortText },
    },
    resource: {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: { type: { type: 'string', minLength: 1, maxLength: 128 }, id: shortText },
    },
    purpose: token,
    query: {
      type: 'object',
      additionalProperties: false,
      required: ['text'],
      properties: { text: { type: 'string', minLength: 1, maxLength: 4096 } },
    },
    source: {
      type: 'object',
      additionalProperties: false,
      required: ['system'],
      properties: { system: { type: 'string', minLength: 1, maxLength: 128 }, integration: { type: 'string', minLength: 1, maxLength: 128 } },
    },
    recordCount: { type: 'integer', minimum: 0, maximum: 1_000_000_000 },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['result'],
      properties: {
        clientSubject: { type: 'string', minLength: 1, maxLength: 512 },
        result: { type: 'string', enum: ['success', 'failure'] },
        reason: { type: 'string', minLength: 1, maxLength: 256 },
      },
    },
    sensitivity: { type: 'array', maxItems: 16, uniqueItems: true, items: token },
    details: {
      type: 'object',
      maxProperties: 32,
      propertyNames: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z][A-Za-z0-9_.-]*$' },
      additionalProperties: {
        anyOf: [{ type: 'string', maxLength: 256 }, { type: 'number' }, { type: 'boolean' }],
      },
    },
  },
} as const;
