/**
 * The console pages of auditors (in-browser verifier, checkpoints, proofs), admins (people,
 * integrations, rules, feeds) and the charts, on top of ConsoleModule's sign-in and sessions.
 * Kept as a module of its own so the analyst and compliance pages grow apart (docs/console-admin.md).
 */
import { Module } from '@nestjs/common';
import { SHARED_ALERT_INDEX, type SharedAlertIndex } from '@app/detection';
import { SQLITE_DB, type SqliteDb } from '@app/storage';
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
      // Where alerts live in a shared cluster, aggregations over its alert index (as AlertCounts); else the data dir's alert table.
      inject: [SQLITE_DB, SHARED_ALERT_INDEX],
      useFactory: (db: SqliteDb, shared: SharedAlertIndex | null) => (shared ? new ChartsPagesService(null, shared) : new ChartsPagesService(db)),
    },
  ],
})
export class AuditorAdminPagesModule {}
