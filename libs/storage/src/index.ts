/** Storage ports and their embedded (SQLite) adapters. */
export * from './event-store.port';
export * from './sqlite/sqlite-database';
export * from './sqlite/sqlite-schema';
export * from './sqlite/sqlite-event-store';
