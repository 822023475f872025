/**
 * The few facts about an event that windows keep for evidence (id, time, patient, source IP,
 * source system …), instead of the whole event: smaller state, smaller snapshots, and nothing
 * kept that an alert does not show. One ref is shared by every rule that keeps the event.
 */
import { AccessEvent } from '@app/core';

export interface EventRef {
  readonly id: string;
  /** occurredAt, epoch ms (as the engine used it). */
  readonly ts: number;
  readonly position: number;
  readonly actor: string;
  readonly patient: string | undefined;
  readonly ip: string | undefined;
  readonly system: string;
  readonly integration: string | undefined;
}

export function eventRefOf(event: AccessEvent, ts: number, position: number): EventRef {
  return {
    id: event.id,
    ts,
    position,
    actor: event.actor.id,
    patient: event.patient?.id,
    ip: event.actor.ip,
    system: event.source.system,
    integration: event.source.integration,
  };
}

type RefRow = [string, number, number, string, string | null, string | null, string, string | null];

/** Writes each distinct ref once into a table that snapshot state points into by index. */
export class RefTableWriter {
  private readonly index = new Map<EventRef, number>();
  readonly rows: RefRow[] = [];

  indexOf(ref: EventRef): number {
    let i = this.index.get(ref);
    if (i === undefined) {
      i = this.rows.length;
      this.index.set(ref, i);
      this.rows.push([ref.id, ref.ts, ref.position, ref.actor, ref.patient ?? null, ref.ip ?? null, ref.system, ref.integration ?? null]);
    }
    return i;
  }
}

/** Reads the table back; refs that several rules shared come back shared. */
export class RefTableReader {
  private readonly refs: EventRef[];

  constructor(rows: unknown) {
    if (!Array.isArray(rows)) throw new Error('snapshot event table is not a list');
    this.refs = rows.map((row) => {
      const [id, ts, position, actor, patient, ip, system, integration] = row as RefRow;
      return {
        id,
        ts,
        position,
        actor,
        patient: patient ?? undefined,
        ip: ip ?? undefined,
        system,
        integration: integration ?? undefined,
      };
    });
  }

  get(i: number): EventRef {
    const ref = this.refs[i];
    if (!ref) throw new Error(`snapshot refers to unknown event #${i}`);
    return ref;
  }
}
