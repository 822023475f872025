/**
 * One shared, lazily compiled canonical-event validator for the standard mappers: a mapped event is
 * only handed out when it is a valid canonical event, so downstream ingestion never sees a
 * half-mapped record.
 */
import { EventValidator, FieldError } from '@app/core';

let validator: EventValidator | undefined;

export function canonicalErrors(candidate: unknown): FieldError[] {
  validator ??= new EventValidator();
  return validator.errorsFor(candidate);
}
