/**
 * Per-integration settings, read once at start from the integrations file (INTEGRATIONS_FILE, else
 * DATA_DIR/integrations.json when present): which `source.system` values each integration may post
 * for, and optional rate-limit overrides. An integration that is not listed may post for any system
 * at the default rate. A malformed file stops start-up, naming the file and the bad entry.
 *
 *   { "sample-ehr": { "systems": ["ehr-gateway"], "eventsPerSecond": 5000, "burst": 10000 } }
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { INTEGRATIONS_FILE_NAME, type AppConfig } from '@app/core';
import { INTEGRATION_ID_PATTERN } from './integration-identity';

export interface IntegrationSetting {
  /** Allowed `source.system` values; undefined = any system. */
  systems?: ReadonlySet<string>;
  /** Rate-limit overrides for this integration (events/s, 0 = unlimited; bucket size). */
  eventsPerSecond?: number;
  burst?: number;
}

const EntrySchema = z
  .object({
    systems: z.array(z.string().min(1).max(128)).max(1000).optional(),
    eventsPerSecond: z.number().min(0).max(10_000_000).optional(),
    burst: z.number().int().min(1).max(100_000_000).optional(),
  })
  .strict();

const FileSchema = z.record(z.string().regex(INTEGRATION_ID_PATTERN, 'integration ids are lower-case letters, digits, . _ - (max 64)'), EntrySchema);

export class IntegrationSettingsError extends Error {}

export class IntegrationSettings {
  private constructor(
    private readonly entries: ReadonlyMap<string, IntegrationSetting>,
    /** The file the settings came from, or null when none was found (defaults everywhere). */
    readonly sourceFile: string | null,
  ) {}

  /** No file: every integration may post for any system at the default rate. */
  static empty(): IntegrationSettings {
    return new IntegrationSettings(new Map(), null);
  }

  /** Parses the file's JSON text (throws IntegrationSettingsError naming the entry at fault). */
  static parse(text: string, fileName = INTEGRATIONS_FILE_NAME): IntegrationSettings {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new IntegrationSettingsError(`${fileName}: not valid JSON`);
    }
    const parsed = FileSchema.safeParse(raw);
    if (!parsed.success) {
      const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`);
      throw new IntegrationSettingsError(`${fileName}: invalid integrations settings:\n${lines.join('\n')}`);
    }
    const entries = new Map<string, IntegrationSetting>();
    for (const [id, entry] of Object.entries(parsed.data)) {
      entries.set(id, {
        systems: entry.systems ? new Set(entry.systems) : undefined,
        eventsPerSecond: entry.eventsPerSecond,
        burst: entry.burst,
      });
    }
    return new IntegrationSettings(entries, fileName);
  }

  /**
   * Reads INTEGRATIONS_FILE (must exist when set) or DATA_DIR/integrations.json (optional).
   */
  static load(config: Pick<AppConfig, 'dataDir'> & Partial<Pick<AppConfig, 'integrationsFile'>>): IntegrationSettings {
    const explicit = config.integrationsFile;
    const file = explicit ?? path.join(config.dataDir, INTEGRATIONS_FILE_NAME);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if (!explicit && (err as NodeJS.ErrnoException).code === 'ENOENT') return IntegrationSettings.empty();
      throw new IntegrationSettingsError(`INTEGRATIONS_FILE ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return IntegrationSettings.parse(text, file);
  }

  /** Settings of one integration; undefined when it is not listed. */
  get(integration: string): IntegrationSetting | undefined {
    return this.entries.get(integration);
  }

  /** Whether `integration` may post events for `system` (true when no list restricts it). */
  allowsSystem(integration: string, system: string): boolean {
    const systems = this.entries.get(integration)?.systems;
    return systems === undefined || systems.has(system);
  }

  /** The integrations the file lists, sorted. */
  ids(): string[] {
    return [...this.entries.keys()].sort();
  }

  get size(): number {
    return this.entries.size;
  }
}
