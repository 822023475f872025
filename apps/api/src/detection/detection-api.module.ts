/** HTTP side of detection: the alert, case and rule controllers (and admins' rule overrides), and alert delivery status over DetectionModule (libs/detection/src/service). */
import { Module } from '@nestjs/common';
import { AlertDeliveryModule } from '@app/detection/delivery';
import { DetectionModule } from '@app/detection/service';
import { AlertDestinationsController } from '../controllers/alert-destinations.controller';
import { AlertsController } from '../controllers/alerts.controller';
import { CasesController } from '../controllers/cases.controller';
import { RulesController } from '../controllers/rules.controller';
import { RuleOverridesController } from '../controllers/rule-overrides.controller';

@Module({
  imports: [DetectionModule, AlertDeliveryModule],
  controllers: [AlertsController, CasesController, RulesController, RuleOverridesController, AlertDestinationsController],
})
export class DetectionApiModule {}
