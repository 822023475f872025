/**
 * Source binding on the default configuration (issue 22, "source spoofing"): without an integrations
 * file naming which systems an integration may post for, the first integration to post a
 * `source.system` owns it, and any other integration posting that system is refused (403
 * /source/system). Bindings are kept in DATA_DIR/source-bindings.json (0600), written atomically
 * before the events that made them are admitted, so they survive restarts. SOURCE_BINDING=off
 * restores "any system". An integrations file entry with `systems` overrides the binding for that
 * integration (its list rules); a cluster should use such a file, since this one lives on one node.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, securitySettings, type AppConfig } from '@app/core';
import { ensurePrivateDir, writeFileAtomic } from './secure-files';

export const SOURCE_BINDINGS_FILE = 'source-bindings.json';

@Injectable()
export class SourceBindings {
  private readonly owners = new Map<string, string>();
  private readonly file: string;
  readonly enabled: boolean;

  constructor(@Inject(APP_CONFIG) config: Pick<AppConfig, 'dataDir'> & Partial<AppConfig>) {
    this.enabled = securitySettings(config).sourceBinding === 'first';
    this.file = path.join(config.dataDir, SOURCE_BINDINGS_FILE);
    if (!this.enabled) return;
    try {
      const saved = JSON.parse(fs.readFileSync(this.file, 'utf8')) as { systems?: Record<string, string> };
      for (const [system, integration] of Object.entries(saved.systems ?? {})) if (typeof integration === 'string') this.owners.set(system, integration);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${this.file}: cannot be read as source bindings (${(err as Error).message})`);
    }
  }

  /** The integration that owns `system`, if any. */
  ownerOf(system: string): string | undefined {
    return this.owners.get(system);
  }

  /** Whether `integration` may post `system` under the binding (true when off or unbound). */
  allows(integration: string, system: string): boolean {
    if (!this.enabled) return true;
    const owner = this.owners.get(system);
    return owner === undefined || owner === integration;
  }

  /** Binds every still unbound system to `integration`, durably (call once all checks passed). */
  bind(integration: string, systems: Iterable<string>): void {
    if (!this.enabled) return;
    let changed = false;
    for (const system of systems) {
      if (this.owners.has(system)) continue;
      this.owners.set(system, integration);
      changed = true;
    }
    if (!changed) return;
    ensurePrivateDir(path.dirname(this.file));
    writeFileAtomic(this.file, JSON.stringify({ systems: Object.fromEntries(this.owners) }, null, 1) + '\n', 0o600);
  }
}
