/**
 * The idempotency check's filters at a chosen shape, on one build (no store: the filters alone).
 * `node bench/id-filters.experiment.js <dist dir> <closed partitions> <ids a partition>` fills one
 * filter a partition as the writer does (sized for the 2,000,000-row cap, folded to its ids), then
 * tests 100,000 new random v4 ids in groups of 1,000 against all of them, as the append
 * transaction does: through one PartitionFilterSet where the build has it, else filter by filter.
 * Prints CPU µs a new id and "maybe" answers a new id (each one an index probe of a closed
 * partition). Run it with the dist of two builds for a before/after pair.
 */
const path = require('node:path');
const { randomUUID } = require('node:crypto');

const [dist, partitionsArg, idsArg] = process.argv.slice(2);
const lib = require(path.resolve(dist, 'libs/storage/src/sqlite/partition-id-filter.js'));
const P = Number(partitionsArg ?? 27);
const N = Number(idsArg ?? 780_000);
const filters = [];
for (let p = 0; p < P; p++) {
  const f = lib.PartitionIdFilter.forIds(2_000_000);
  for (let i = 0; i < N; i++) f.add(lib.hashId(randomUUID()));
  filters.push({ n: p, filter: f.foldTo(N) });
}
const set = lib.PartitionFilterSet ? lib.PartitionFilterSet.of(filters) : null;
const ids = Array.from({ length: 100_000 }, () => randomUUID());
function run() {
  let maybe = 0;
  const out = [];
  for (let g = 0; g < ids.length; g += 1000) {
    const hashes = ids.slice(g, g + 1000).map(lib.hashId);
    if (set) {
      for (const h of hashes) {
        out.length = 0;
        set.maybe(h, out);
        maybe += out.length;
      }
    } else for (const { filter } of filters) for (const h of hashes) if (filter.mightContain(h)) maybe++;
  }
  return maybe;
}
run(); // warm-up
const cpu0 = process.cpuUsage();
const maybe = run();
const cpu = process.cpuUsage(cpu0);
const bytes = set ? set.byteLength : filters.reduce((s, f) => s + f.filter.byteLength, 0);
console.log(
  `${set ? 'filter set' : 'filter by filter'}, ${P} partitions of ${N} ids: ${((cpu.user + cpu.system) / ids.length).toFixed(2)} µs CPU a new id, ` +
    `${(maybe / ids.length).toFixed(4)} maybe answers a new id, ${(bytes / 2 ** 20).toFixed(0)} MiB of filters`,
);
