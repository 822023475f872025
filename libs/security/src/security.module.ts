/**
 * Nest wiring of the security library: TokenService (needs APP_CONFIG, provided globally by the app)
 * and the global AuthGuard (APP_GUARD, default deny). Global, so any module can inject TokenService.
 * Optional: provide AUTH_EVENT_SINK globally to receive refused requests.
 */
import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard';
import { TokenService } from './token.service';

@Global()
@Module({
  providers: [TokenService, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [TokenService],
})
export class SecurityModule {}
