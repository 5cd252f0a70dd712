import { describe, expect, it } from 'vitest';
import { mayMoveTag } from '../../../domain/image-verdicts.js';

describe('mayMoveTag', () => {
  const mine = '2026-03-02T00:00:00.000Z';

  it('moves a tag away from an image built from the same or an older catalog', () => {
    expect(mayMoveTag(mine, ['2026-03-01T00:00:00.000Z'])).toBe(true);
    expect(mayMoveTag(mine, [mine])).toBe(true);
  });

  it('keeps a tag on an image whose provenance records a newer catalog', () => {
    expect(mayMoveTag(mine, ['2026-03-01T00:00:00.000Z', '2026-03-03T00:00:00.000Z'])).toBe(false);
    // Times compare as instants, not as text.
    expect(mayMoveTag(mine, ['2026-03-02T01:00:00+00:30'])).toBe(false);
  });

  it('lets images without kiln provenance, or with unreadable times, be replaced', () => {
    expect(mayMoveTag(mine, [])).toBe(true);
    expect(mayMoveTag(mine, ['soon', 42, null])).toBe(true);
  });
});
