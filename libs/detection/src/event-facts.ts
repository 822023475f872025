/**
 * What the engine knows about one event beyond the event itself: the actor's and the patient's
 * context as of the event's time, the patient's open encounters, the explanation of the access
 * (explainAccess, computed once per event and shared by every rule), and the learned baselines.
 * Each is looked up on first use only, so rules that never ask cost nothing. Rule conditions read
 * these through the `actor.context.*`, `patient.context.*`, `explained`, `explanation`, `same` and
 * `baseline` forms (condition-compiler.ts).
 */
import {
  AccessContext,
  AccessEvent,
  AccessExplanation,
  EMPTY_ACCESS_CONTEXT,
  EncounterContext,
  explainAccess,
  parseSearchQuery,
  ParsedSearchQuery,
  PatientContext,
  searchedNames,
  searchedParameterNames,
  UserContext,
} from '@app/core';
import { BaselineBook, BaselineView } from './baselines';

const NONE = Symbol('none');

export class EventFacts {
  private event: AccessEvent | null = null;
  private ts = 0;
  private userCache: UserContext | undefined | typeof NONE = NONE;
  private patientCache: PatientContext | undefined | typeof NONE = NONE;
  private encountersCache: readonly EncounterContext[] | null = null;
  private explanationCache: AccessExplanation | null = null;
  private workforceCache: UserContext | undefined | typeof NONE = NONE;
  private searchCache: ParsedSearchQuery | undefined | typeof NONE = NONE;
  private searchNamesCache: string[] | undefined | typeof NONE = NONE;
  private rawUserCache: UserContext | undefined | typeof NONE = NONE;
  private peerKeyCache: string | null = null;
  private localDayCache = NaN;
  private localHourCache = -1;
  private userBaselineCache: BaselineView | null = null;
  private peerBaselineCache: BaselineView | null = null;
  private patientsTodayCache = -1;
  /** The last peer key built, by the role and department it was built from (most events repeat them). */
  private lastPeer: { role: string | undefined; department: string | undefined; key: string } | null = null;
  /** explainAccess reads the actor and the patient's encounters through this view: the lookups made for the rules are reused. */
  private readonly joined: AccessContext;

  constructor(
    readonly context: AccessContext = EMPTY_ACCESS_CONTEXT,
    readonly baselines: BaselineBook | null = null,
  ) {
    const self = this;
    this.joined = {
      userAt: (id, at) => (at === self.ts && id === self.event?.actor.id ? self.rawUser() : context.userAt(id, at)),
      patientAt: (id, at) => context.patientAt(id, at),
      encountersAt: (id, at) => (at === self.ts && id === self.event?.patient?.id ? self.encounters() : context.encountersAt(id, at)),
      workforceMemberWithPatientId: (id, at) => context.workforceMemberWithPatientId(id, at),
      ...(context.nameToken ? { nameToken: (clear: string) => context.nameToken!(clear) } : {}),
    };
  }

  /** Points the facts at the next event (clears what was looked up for the previous one). */
  reset(event: AccessEvent, ts: number): this {
    this.event = event;
    this.ts = ts;
    this.userCache = NONE;
    this.patientCache = NONE;
    this.encountersCache = null;
    this.explanationCache = null;
    this.workforceCache = NONE;
    this.searchCache = NONE;
    this.searchNamesCache = NONE;
    this.peerKeyCache = null;
    this.localDayCache = NaN;
    this.localHourCache = -1;
    this.userBaselineCache = null;
    this.peerBaselineCache = null;
    this.patientsTodayCache = -1;
    this.rawUserCache = NONE;
    return this;
  }

  get time(): number {
    return this.ts;
  }

  get current(): AccessEvent {
    return this.event!;
  }

  /** The actor as a workforce member at the event's time; a termination after that time does not count yet. */
  user(): UserContext | undefined {
    if (this.userCache === NONE) {
      let user = this.rawUser();
      if (user?.status === 'terminated' && user.terminatedAt !== undefined) {
        const at = Date.parse(user.terminatedAt);
        if (!Number.isNaN(at) && at > this.ts) user = { ...user, status: 'active' };
      }
      this.userCache = user;
    }
    return this.userCache;
  }

  /** The context's answer for the actor at the event's time, as explainAccess asks it. */
  private rawUser(): UserContext | undefined {
    if (this.rawUserCache === NONE) this.rawUserCache = this.context.userAt(this.event!.actor.id, this.ts);
    return this.rawUserCache;
  }

  patient(): PatientContext | undefined {
    if (this.patientCache === NONE) {
      const id = this.event!.patient?.id;
      this.patientCache = id === undefined ? undefined : this.context.patientAt(id, this.ts);
    }
    return this.patientCache;
  }

  encounters(): readonly EncounterContext[] {
    if (this.encountersCache === null) {
      const id = this.event!.patient?.id;
      this.encountersCache = id === undefined ? [] : this.context.encountersAt(id, this.ts);
    }
    return this.encountersCache;
  }

  /** The workforce member whose own record the patient is, if any. */
  workforceMember(): UserContext | undefined {
    if (this.workforceCache === NONE) {
      const id = this.event!.patient?.id;
      this.workforceCache = id === undefined ? undefined : this.context.workforceMemberWithPatientId(id, this.ts);
    }
    return this.workforceCache;
  }

  explanation(): AccessExplanation {
    if (this.explanationCache === null) this.explanationCache = explainAccess(this.event!, this.joined, this.ts);
    return this.explanationCache;
  }

  /** The event's search string, parsed (never kept beyond this event). */
  private search(): ParsedSearchQuery | undefined {
    if (this.searchCache === NONE) {
      const text = this.event!.query?.text;
      this.searchCache = text === undefined ? undefined : parseSearchQuery(text);
    }
    return this.searchCache;
  }

  /**
   * Matching tokens of the person names the event's search looked for (`query.names`), made with
   * the context's name tokenizer so they compare with `patient.context.family`; the names
   * themselves are dropped at once. Undefined when the event is no name search.
   */
  searchNameTokens(): string[] | undefined {
    if (this.searchNamesCache === NONE) {
      const parsed = this.search();
      const tokenize = this.context.nameToken?.bind(this.context);
      let tokens: string[] | undefined;
      if (parsed && tokenize) {
        const set = new Set<string>();
        for (const name of searchedNames(parsed)) {
          const t = tokenize(name);
          if (t !== undefined) set.add(t);
        }
        if (set.size > 0) tokens = [...set];
      }
      this.searchNamesCache = tokens;
    }
    return this.searchNamesCache;
  }

  /** The parameter names of the event's search (`name`, `birthdate`): not PHI. */
  searchParameters(): string[] | undefined {
    const parsed = this.search();
    return parsed ? searchedParameterNames(parsed) : undefined;
  }

  /** Peer group of the actor: role (from the event) and department (from the context). */
  peerKey(): string {
    if (this.peerKeyCache === null) {
      const role = this.event!.actor.role;
      const department = this.user()?.department;
      const last = this.lastPeer;
      if (last !== null && last.role === role && last.department === department) this.peerKeyCache = last.key;
      else {
        this.peerKeyCache = BaselineBook.peerKey(role, department);
        this.lastPeer = { role, department, key: this.peerKeyCache };
      }
    }
    return this.peerKeyCache;
  }

  /** Local day of the event in the baselines' zone (NaN without baselines). */
  localDay(): number {
    if (this.localDayCache !== this.localDayCache && this.baselines !== null) this.localDayCache = this.baselines.localDay(this.ts);
    return this.localDayCache;
  }

  /** Local hour (0-23) of the event in the baselines' zone (-1 without baselines). */
  localHour(): number {
    if (this.localHourCache < 0 && this.baselines !== null) this.localHourCache = this.baselines.localHour(this.ts);
    return this.localHourCache;
  }

  /** The actor's own learned pattern before the event's day (null without baselines). */
  userBaseline(): BaselineView | null {
    if (this.userBaselineCache === null && this.baselines !== null) this.userBaselineCache = this.baselines.userOn(this.event!.actor.id, this.localDay());
    return this.userBaselineCache;
  }

  /** The actor's peer group's learned pattern (null without baselines). */
  peerBaseline(): BaselineView | null {
    if (this.peerBaselineCache === null && this.baselines !== null) this.peerBaselineCache = this.baselines.peers(this.peerKey());
    return this.peerBaselineCache;
  }

  /** Distinct patients the actor touched on the event's local day, this event's patient included (0 without baselines). */
  patientsToday(): number {
    if (this.patientsTodayCache < 0) this.patientsTodayCache = this.baselines === null ? 0 : this.baselines.patientsOn(this.event!.actor.id, this.localDay(), this.event!.patient?.id);
    return this.patientsTodayCache;
  }
}

/** Facts with no context and no baselines, for checks made outside the engine. */
export function factsWithoutContext(event: AccessEvent, ts: number): EventFacts {
  return new EventFacts().reset(event, ts);
}
