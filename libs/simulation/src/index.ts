/** Synthetic traffic for seeding, tests and benchmarks, and the order to post it in. */
export * from './synthetic-traffic';
export * from './seed-plan';
