/** Context feeds: users, patients and encounters as of a time, for detection, explanations and reports. */
export * from './matching-tokens';
export * from './context-records';
export * from './context-index';
export * from './context-store.port';
export * from './sqlite-context-store';
export * from './context.service';
export * from './context.module';
export * from './context-sync';
export * from './fhir-context.service';
