/**
 * Nest wiring of the IHE ATNA receiver (RFC 5425 syslog over mutual TLS): the listener starts with
 * the app when ATNA_ENABLED=true and stops with it. Needs the global config and pipeline modules.
 */
import { Module } from '@nestjs/common';
import { AtnaListener } from './atna-listener.service';

@Module({
  providers: [AtnaListener],
  exports: [AtnaListener],
})
export class AtnaModule {}
