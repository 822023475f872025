/** HTTP side of detection: the alert and rule controllers over DetectionModule (libs/detection/src/service). */
import { Module } from '@nestjs/common';
import { DetectionModule } from '@app/detection/service';
import { AlertsController } from '../controllers/alerts.controller';
import { RulesController } from '../controllers/rules.controller';

@Module({
  imports: [DetectionModule],
  controllers: [AlertsController, RulesController],
})
export class DetectionApiModule {}
