/** HTTP side of detection: the alert, case and rule controllers (and admins' rule overrides) over DetectionModule (libs/detection/src/service). */
import { Module } from '@nestjs/common';
import { DetectionModule } from '@app/detection/service';
import { AlertsController } from '../controllers/alerts.controller';
import { CasesController } from '../controllers/cases.controller';
import { RulesController } from '../controllers/rules.controller';
import { RuleOverridesController } from '../controllers/rule-overrides.controller';

@Module({
  imports: [DetectionModule],
  controllers: [AlertsController, CasesController, RulesController, RuleOverridesController],
})
export class DetectionApiModule {}
