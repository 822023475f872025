/**
 * The console sign-in lockout (5 attempts per name in 15 minutes) counted through the
 * SignInFailures port: in the process for the embedded store, and in the cluster with
 * STORE=elasticsearch (ElasticsearchSignInFailures on the client's test double, EsFake), where two
 * instances share one count, also when the attempts arrive at the same time.
 */
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { EsRequests } from '@app/storage/elasticsearch/es-requests';
import { SIGN_IN_FAILURE_MAPPINGS } from '@app/storage/elasticsearch/es-schema';
import { ElasticsearchConsoleStore } from './es-console-store';
import { ElasticsearchSignInFailures } from './es-sign-in-failures';
import { LocalSignIn } from './local-sign-in';
import { MemorySignInFailures } from './memory-sign-in-failures';
import { hashPassword } from './password-hasher';

const CHEAP = { N: 1 << 10, r: 8, p: 1 };
const INDEX = 'audit-console-sign-in-failures';

async function cluster() {
  const fake = new EsFake();
  const client = fake.client();
  await client.indices.create({ index: 'audit-console', mappings: { dynamic: false, properties: {} } });
  await client.indices.create({ index: INDEX, mappings: SIGN_IN_FAILURE_MAPPINGS });
  const accounts = new ElasticsearchConsoleStore(new EsRequests(client), 'audit-console');
  await accounts.putUser('ann', 'admin', await hashPassword('right-passphrase-1', CHEAP));
  let now = Date.UTC(2026, 11, 7, 9);
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const instance = () => new LocalSignIn(accounts, clock.now, new ElasticsearchSignInFailures(new EsRequests(client), INDEX));
  return { fake, accounts, clock, instance };
}

describe('LocalSignIn lockout shared through Elasticsearch', () => {
  it('counts the attempts made on two instances together: 3 on A and 2 on B lock the name on both', async () => {
    const { instance, fake } = await cluster();
    const a = instance();
    const b = instance();
    for (let i = 0; i < 3; i++) expect(await a.signIn('ann', 'wrong')).toEqual({ ok: false, reason: 'invalid' });
    for (let i = 0; i < 2; i++) expect(await b.signIn('Ann', 'wrong')).toEqual({ ok: false, reason: 'invalid' });
    // The sixth attempt, with the right password, is refused on either instance.
    expect(await a.signIn('ann', 'right-passphrase-1')).toEqual({ ok: false, reason: 'locked' });
    expect(await b.signIn('ann', 'right-passphrase-1')).toEqual({ ok: false, reason: 'locked' });
    // One document for the name, keyed by a digest: the typed name is not stored.
    const docs = [...(fake.indices.get(INDEX)?.entries() ?? [])];
    expect(docs).toHaveLength(1);
    expect(docs[0][0]).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(docs)).not.toContain('ann');
  });

  it('counts every one of 12 attempts made at the same time on two instances: at most 5 are checked', async () => {
    const { instance } = await cluster();
    const a = instance();
    const b = instance();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).signIn('ann', 'wrong')));
    expect(results.filter((r) => !r.ok && r.reason === 'invalid')).toHaveLength(5);
    expect(results.filter((r) => !r.ok && r.reason === 'locked')).toHaveLength(7);
  });

  it('a successful sign-in forgets the failures; a lock ends 15 minutes after the first failure', async () => {
    const { instance, clock } = await cluster();
    const a = instance();
    const b = instance();
    for (let i = 0; i < 4; i++) await a.signIn('ann', 'wrong');
    expect(await b.signIn('ann', 'right-passphrase-1')).toMatchObject({ ok: true, name: 'ann' });
    for (let i = 0; i < 5; i++) expect(await b.signIn('ann', 'wrong')).toEqual({ ok: false, reason: 'invalid' });
    expect(await a.signIn('ann', 'right-passphrase-1')).toEqual({ ok: false, reason: 'locked' });
    clock.advance(15 * 60_000);
    expect(await a.signIn('ann', 'right-passphrase-1')).toMatchObject({ ok: true });
  });

  it('in the process (embedded store): the same lockout, per instance', async () => {
    const { accounts, clock } = await cluster();
    const one = new LocalSignIn(accounts, clock.now, new MemorySignInFailures());
    for (let i = 0; i < 5; i++) expect(await one.signIn('ann', 'wrong')).toEqual({ ok: false, reason: 'invalid' });
    expect(await one.signIn('ann', 'right-passphrase-1')).toEqual({ ok: false, reason: 'locked' });
    clock.advance(15 * 60_000);
    expect(await one.signIn('ann', 'right-passphrase-1')).toMatchObject({ ok: true });
  });
});
