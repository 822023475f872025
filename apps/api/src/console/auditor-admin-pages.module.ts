/**
 * The console pages of auditors (in-browser verifier, checkpoints, proofs), admins (people,
 * integrations, rules, feeds) and the charts, on top of ConsoleModule's sign-in and sessions.
 * Kept as a module of its own so the analyst and compliance pages grow apart (docs/console-admin.md).
 */
import { Module } from '@nestjs/common';
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
  providers: [AuditorPagesService, AdminPagesService, ChartsPagesService],
})
export class AuditorAdminPagesModule {}
