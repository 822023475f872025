/** Synthetic traffic for seeding, tests and benchmarks, and the order to post it in; the hospital simulator. */
export * from './synthetic-traffic';
export * from './seed-plan';
export * from './hospital';
