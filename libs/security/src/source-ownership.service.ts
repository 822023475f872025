/**
 * Source ownership: an integration may post only events that are its own. For each event, a
 * `source.integration` that names another integration is refused, an absent one is filled in with
 * the caller's integration id (so the stored, hashed event carries the authenticated integration),
 * and `source.system` must be one of the integration's allowed systems (integrations file), or, when
 * the file gives the integration no list, a system no other integration posted first (SourceBindings). Works on raw, not yet validated bodies: shapes
 * it does not understand are left to schema validation. Refusals are a 403 problem naming each
 * field by JSON Pointer, never its value.
 */
import { Injectable, Optional } from '@nestjs/common';
import { FieldError, Problems } from '@app/core';
import { IntegrationSettings } from './integration-settings';
import { SourceBindings } from './source-bindings';
import type { Principal } from './principal';

const MAX_REPORTED = 100;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

@Injectable()
export class SourceOwnershipService {
  constructor(
    private readonly settings: IntegrationSettings,
    @Optional() private readonly bindings?: SourceBindings,
  ) {}

  /**
   * Checks (and completes) the `source` of each candidate event. `batch` says whether the events came
   * as `{ events: [...] }` (pointers `/events/i/source/...` with `index`) or as one event (`/source/...`).
   * Throws a 403 ProblemError listing every foreign source; mutates candidates only when all pass.
   */
  enforce(principal: Pick<Principal, 'integration'>, candidates: readonly unknown[], batch: boolean): void {
    const integration = principal.integration;
    const errors: FieldError[] = [];
    const toFill: Array<Record<string, unknown>> = [];
    const toBind = new Set<string>();
    for (let i = 0; i < candidates.length && errors.length < MAX_REPORTED; i++) {
      const candidate = candidates[i];
      if (!isPlainObject(candidate) || !isPlainObject(candidate.source)) continue; // validation names it
      const source = candidate.source;
      const at = (field: string): FieldError => (batch ? { index: i, pointer: `/events/${i}/source/${field}`, message: '' } : { pointer: `/source/${field}`, message: '' });
      if (integration === undefined) {
        errors.push({ ...at('integration'), message: 'only integrations may post events' });
        continue;
      }
      if (source.integration === undefined) toFill.push(source);
      else if (source.integration !== integration) errors.push({ ...at('integration'), message: 'names an integration other than the authenticated one' });
      if (typeof source.system === 'string') {
        // A systems list in the integrations file rules; otherwise the first integration to post a system owns it.
        const listed = this.settings.get(integration)?.systems !== undefined;
        const allowed = listed ? this.settings.allowsSystem(integration, source.system) : (this.bindings?.allows(integration, source.system) ?? true);
        if (!allowed) errors.push({ ...at('system'), message: 'is not a system this integration may post for' });
        else if (!listed) toBind.add(source.system);
      }
    }
    if (errors.length > 0) throw Problems.sourceNotAllowed(errors);
    if (integration !== undefined && toBind.size > 0) this.bindings?.bind(integration, toBind);
    for (const source of toFill) source.integration = integration;
  }
}
