// Shared by tests that expect kiln to fail: the failure a promise rejected with, checked to be a
// Temporal ApplicationFailure so its type and retry decision can be asserted.
import { ApplicationFailure } from '@temporalio/common';
import { expect } from 'vitest';

export async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a failure').toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}
