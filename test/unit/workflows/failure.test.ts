// Pure logic: how a workflow raises a step's failure again (no Temporal server involved).
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { failure } from '../../../domain/failures.js';
import { rethrown } from '../../../workflows/failure.js';

const fromActivity = (cause: Error) =>
  new ActivityFailure('activity failed', 'snapshotCatalog', '1', RetryState.NON_RETRYABLE_FAILURE, undefined, cause);

describe('rethrown', () => {
  it('keeps the type of the innermost kiln failure, with its message', () => {
    const err = rethrown(fromActivity(failure('RegistryUnavailable', 'registry down')), 'CatalogInvalid');
    expect(err).toMatchObject({ type: 'RegistryUnavailable', message: 'registry down' });
  });

  it('a catalog problem stays CatalogInvalid, not retried', () => {
    const err = rethrown(fromActivity(failure('CatalogInvalid', 'catalog.yaml: bad')), 'CatalogInvalid');
    expect(err).toMatchObject({ type: 'CatalogInvalid', nonRetryable: true });
  });

  it('a chain with no kiln type (a timeout, a foreign error) takes the fallback', () => {
    expect(rethrown(fromActivity(new Error('boom')), 'CatalogInvalid').type).toBe('CatalogInvalid');
    expect(
      rethrown(fromActivity(ApplicationFailure.create({ type: 'Foreign', message: 'x' })), 'CatalogInvalid').type,
    ).toBe('CatalogInvalid');
  });
});
