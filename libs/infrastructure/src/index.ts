/** The infrastructure chosen once (infrastructure.ts): the embedded module, the scale-out module, and the ports they bind. */
export * from './infrastructure';
export * from './infrastructure-ports';
export * from './embedded-infrastructure.module';
export * from './scale-out-infrastructure.module';
export * from './event-bus.providers';
export * from './embedded-chain-readers';
