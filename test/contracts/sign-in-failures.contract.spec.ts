/** The SignInFailures contract on both adapters: in the process (the embedded one, also the test double) and Elasticsearch (on EsFake). */
import { MemorySignInFailures } from '@app/console';
import { ElasticsearchSignInFailures } from '@app/console/es-sign-in-failures';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { EsRequests } from '@app/storage/elasticsearch/es-requests';
import { SIGN_IN_FAILURE_MAPPINGS } from '@app/storage/elasticsearch/es-schema';
import { describeSignInFailuresContract } from './sign-in-failures.contract';

describeSignInFailuresContract('in the process', async () => {
  const failures = new MemorySignInFailures();
  return { failures, other: () => failures };
});

describeSignInFailuresContract('Elasticsearch', async () => {
  const fake = new EsFake();
  await fake.client().indices.create({ index: 'audit-console-sign-in-failures', mappings: SIGN_IN_FAILURE_MAPPINGS });
  const open = () => new ElasticsearchSignInFailures(new EsRequests(fake.client(), { sleep: async () => undefined }), 'audit-console-sign-in-failures');
  return { failures: open(), other: open };
});
