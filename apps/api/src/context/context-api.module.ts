/** The context feeds' HTTP side: the routes (ContextController) over the global ContextModule. */
import { Module } from '@nestjs/common';
import { ContextModule } from '@app/context';
import { ContextController } from './context.controller';

@Module({ imports: [ContextModule], controllers: [ContextController] })
export class ContextApiModule {}
