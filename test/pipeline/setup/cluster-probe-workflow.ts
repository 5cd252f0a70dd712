// The one workflow the cluster test runs: it moves kiln's KilnStage search attribute as catalogRebuild
// does, so an upsert the cluster's visibility store would refuse fails the test.
import { upsertSearchAttributes } from '@temporalio/workflow';
import { KILN_STAGE } from '../../../workflows/search-attributes.js';

export async function clusterProbe(name: string): Promise<string> {
  upsertSearchAttributes([{ key: KILN_STAGE, value: 'probed' }]);
  return `hello ${name}`;
}
