/** Which failed commits make readiness false, and under which reason code (durability-monitor.ts). */
import { SequenceConflictError, StoreUnavailableError } from '@app/storage';
import { durabilityFaultOf } from './durability-monitor';

describe('durabilityFaultOf', () => {
  it.each([
    [new StoreUnavailableError('append failed: SQLITE_FULL'), 'disk_full'],
    [Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }), 'disk_full'],
    [Object.assign(new Error('file too large'), { code: 'EFBIG' }), 'disk_full'],
    [new StoreUnavailableError('append failed: SQLITE_BUSY'), 'database_locked'],
    [new StoreUnavailableError('append failed: SQLITE_IOERR_WRITE'), 'io_error'],
    [new StoreUnavailableError('Elasticsearch request failed: ConnectionError'), 'store_error'],
    [new StoreUnavailableError('writer thread stopped before answering'), 'store_error'],
  ])('%s -> %s', (err, code) => {
    expect(durabilityFaultOf(err)).toBe(code);
  });

  it('does not count another writer taking the sequence number first as a fault', () => {
    expect(durabilityFaultOf(new SequenceConflictError('data_access', 7))).toBeNull();
  });
});
