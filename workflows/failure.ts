// Turning a Temporal failure chain into the one message a person needs: the innermost cause, where
// the tool's own words are.
export function failureMessage(err: unknown): string {
  let cur = err as { message?: string; cause?: unknown } | undefined;
  let message = String(err);
  while (cur && typeof cur === 'object') {
    if (cur.message) message = cur.message;
    cur = cur.cause as typeof cur;
  }
  return message;
}
