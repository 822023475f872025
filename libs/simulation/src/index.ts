/** Synthetic traffic for seeding, tests and benchmarks. */
export * from './synthetic-traffic';
