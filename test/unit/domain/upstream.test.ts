import { describe, expect, it } from 'vitest';
import {
  bumpMelangeConfig,
  githubListing,
  newestRelease,
  parseLsRemote,
  tagVersion,
  updateConfig,
  type UpdateConfig,
} from '../../../domain/upstream.js';

const base: UpdateConfig = {
  backend: 'git',
  useTag: false,
  stripPrefix: 'v',
  stripSuffix: '',
  tagFilterPrefix: '',
  tagFilterContains: '',
  ignoreRegexPatterns: [],
  versionTransform: [],
  enablePrereleaseTags: false,
};

describe('updateConfig', () => {
  it('reads the melange update block; disabled or manual ones are not watched', () => {
    expect(
      updateConfig({
        update: { enabled: true, github: { identifier: 'acme/widget', 'strip-prefix': 'v', 'use-tag': true } },
      }),
    ).toMatchObject({ backend: 'github', identifier: 'acme/widget', stripPrefix: 'v', useTag: true });
    expect(updateConfig({ update: { enabled: false, git: {} } })).toBeUndefined();
    expect(updateConfig({ update: { manual: true, git: {} } })).toBeUndefined();
    expect(updateConfig({ package: { name: 'x' } })).toBeUndefined();
  });
});

describe('tagVersion and newestRelease', () => {
  it('strips prefixes and orders by APK version, not by text', () => {
    const tags = ['v1.9.0', 'v1.10.0', 'v1.2.0'].map((tag) => ({ tag }));
    expect(newestRelease(tags, base)?.version).toBe('1.10.0');
  });

  it('skips pre-releases unless allowed', () => {
    const tags = [{ tag: 'v2.0.0-rc1' }, { tag: 'v1.5.0' }, { tag: 'v2.1.0', prerelease: true }];
    expect(newestRelease(tags, base)?.version).toBe('1.5.0');
    expect(tagVersion({ tag: 'v2.0.0_rc1' }, { ...base, enablePrereleaseTags: true })).toBe('2.0.0_rc1');
  });

  it('honours tag filters, ignore patterns and version transforms', () => {
    expect(tagVersion({ tag: 'release-3.4' }, { ...base, tagFilterPrefix: 'release-', stripPrefix: 'release-' })).toBe(
      '3.4',
    );
    expect(tagVersion({ tag: 'v3.4' }, { ...base, tagFilterPrefix: 'release-' })).toBeUndefined();
    expect(tagVersion({ tag: 'v9.9.9' }, { ...base, ignoreRegexPatterns: ['^v9'] })).toBeUndefined();
    expect(
      tagVersion({ tag: 'v1.2p3' }, { ...base, versionTransform: [{ match: 'p(\\d+)$', replace: '.${1}' }] }),
    ).toBe('1.2.3');
    expect(tagVersion({ tag: 'not-a-version' }, base)).toBeUndefined();
  });
});

describe('parseLsRemote', () => {
  it('prefers the peeled commit of an annotated tag', () => {
    const out = [
      `${'a'.repeat(40)}\trefs/tags/v1.0.0`,
      `${'b'.repeat(40)}\trefs/tags/v1.1.0`,
      `${'c'.repeat(40)}\trefs/tags/v1.1.0^{}`,
    ].join('\n');
    expect(parseLsRemote(out)).toEqual([
      { tag: 'v1.0.0', commit: 'a'.repeat(40) },
      { tag: 'v1.1.0', commit: 'c'.repeat(40) },
    ]);
  });
});

describe('bumpMelangeConfig', () => {
  it('sets the version, resets the epoch, refreshes expected-commit and keeps comments', () => {
    const text = [
      'package:',
      '  name: widget',
      '  version: 1.0.0 # upstream release',
      '  epoch: 3',
      'pipeline:',
      '  - uses: git-checkout',
      '    with:',
      '      repository: https://example.org/widget.git',
      '      tag: v${{package.version}}',
      `      expected-commit: ${'a'.repeat(40)}`,
      '  - runs: make',
      '',
    ].join('\n');
    const out = bumpMelangeConfig(text, { version: '1.1.0', commit: 'c'.repeat(40) });
    expect(out).toContain('version: 1.1.0 # upstream release');
    expect(out).toContain('epoch: 0');
    expect(out).toContain(`expected-commit: ${'c'.repeat(40)}`);
    expect(out).toContain('tag: v${{package.version}}');
  });
});

describe('githubListing', () => {
  it('reads releases (drafts left out) and tags with their commits', () => {
    const releases = JSON.stringify([
      { tag_name: 'v1.1.0', prerelease: false },
      { tag_name: 'v1.2.0-rc1', prerelease: true },
      { tag_name: 'v2.0.0', draft: true },
    ]);
    expect(githubListing(releases, 'application/json', false)).toEqual({
      tags: [
        { tag: 'v1.1.0', prerelease: false },
        { tag: 'v1.2.0-rc1', prerelease: true },
      ],
    });
    expect(githubListing('[{"name":"v1","commit":{"sha":"abc"}}]', 'application/json', true)).toEqual({
      tags: [{ tag: 'v1', commit: 'abc' }],
    });
  });

  it('says what is wrong with an answer that is not a list of releases', () => {
    const problem = (text: string, type = 'application/json') =>
      (githubListing(text, type, false) as { problem: string }).problem;
    expect(problem('<html><body>502 Bad Gateway</body></html>', 'text/html')).toMatch(
      /^the body is not JSON \(text\/html; .*\): "<html><body>502 Bad Gateway/,
    );
    expect(problem('[{"tag_name": "v1.1.0", "prere')).toMatch(/^the body is not JSON \(application\/json; /);
    expect(problem('{"message":"API rate limit exceeded"}')).toBe(
      'a JSON object, not a list: "{\\"message\\":\\"API rate limit exceeded\\"}"',
    );
    expect(problem('[{"tag_name":"v1"},{"name":"v2"}]')).toBe('item 1 has no tag_name string: "{\\"name\\":\\"v2\\"}"');
    expect(problem('')).toBe('the body is empty');
    expect(githubListing('[]', 'application/json', false)).toEqual({ tags: [] });
  });
});
