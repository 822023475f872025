/**
 * The console pages of auditors (in-browser verifier, checkpoints, proofs), admins (people,
 * integrations, rules, feeds) and the charts, on top of ConsoleModule's sign-in and sessions.
 * Kept as a module of its own so the analyst and compliance pages grow apart (docs/console-admin.md).
 */
import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/core';
import { EVENT_STORE, SQLITE_DB, type EventStore, type SqliteDb } from '@app/storage';
import { DetectionModule } from '@app/detection/service';
import { AlertDeliveryModule } from '@app/detection/delivery';
import { AdminPagesController } from './admin-pages.controller';
import { AdminPagesService } from './admin-pages.service';
import { AuditorPagesController } from './auditor-pages.controller';
import { AuditorPagesService } from './auditor-pages.service';
import { ChartsPagesController } from './charts-pages.controller';
import { ChartsPagesService } from './charts-pages.service';

@Module({
  imports: [DetectionModule, AlertDeliveryModule],
  controllers: [AuditorPagesController, AdminPagesController, ChartsPagesController],
  providers: [
    AuditorPagesService,
    AdminPagesService,
    {
      provide: ChartsPagesService,
      inject: [SQLITE_DB, APP_CONFIG, EVENT_STORE],
      useFactory: async (db: SqliteDb, config: AppConfig, events: EventStore) => {
        if (config.scaleOut?.store !== 'elasticsearch') return new ChartsPagesService(db);
        // The shared alert index, through the event store's client (loaded lazily: the client is heavy), as AlertCounts.
        const { ElasticsearchEventStore } = await import('@app/storage/scale-out-adapters');
        if (!(events instanceof ElasticsearchEventStore)) throw new Error('STORE=elasticsearch: the event store is not the Elasticsearch one');
        return new ChartsPagesService(null, { client: events.client, index: events.options.alertsIndex });
      },
    },
  ],
})
export class AuditorAdminPagesModule {}
