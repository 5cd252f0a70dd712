// Fault row: the upstream a watched package's releases come from (a loopback GitHub-shaped API of
// the row's own) answers garbage for a while: an HTML error page with 200, cut-off JSON, a list of
// something else. Each poll of the release watcher (upstreamWatch) must report the package as an
// error naming the URL and saying what was wrong, and make no branch and build nothing. Then the
// upstream answers properly with a new release: the next poll makes the update branch and the
// staged build of the package, its dependent and the image, as the watcher always does.
import { appendFile, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { execa } from 'execa';
import type { CatalogRebuildResult } from '../../domain/run-summary.js';
import { upstreamWatch, type UpstreamPackageReport } from '../../workflows/upstream-watch.js';
import { ledger } from './assess.js';
import { assess, guarded, trial } from './trial.js';

/** What the upstream answers, in the order the row asks for them, with what the report must say. */
const GARBAGE = [
  {
    kind: 'an HTML error page with 200',
    type: 'text/html; charset=utf-8',
    body: '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>upstream down</body></html>',
    says: /not JSON \(text\/html; charset=utf-8; .*\): "<!DOCTYPE html>/,
  },
  {
    kind: 'cut-off JSON',
    type: 'application/json',
    body: '[{"tag_name":"v1.1.0","prerelease":fal',
    says: /not JSON \(application\/json; /,
  },
  {
    kind: 'a list of the wrong shape',
    type: 'application/json',
    body: JSON.stringify([{ version: '1.1.0', url: 'https://example.invalid/1.1.0' }]),
    says: /item 0 has no tag_name string/,
  },
];
const RELEASES = JSON.stringify([
  { tag_name: 'v1.1.0', prerelease: false },
  { tag_name: 'v1.0.0', prerelease: false },
]);

const git = (cwd: string, ...args: string[]) =>
  execa('git', ['-c', 'user.name=faults', '-c', 'user.email=faults@localhost', ...args], { cwd });

export const upstreamGarbage = guarded('malformed upstream answer, then a release', true, async (lab, fault) => {
  const t = await trial(lab, 'upstream');
  const base = t.catalog.packages[0]!.name;
  const path = `/repos/acme/${t.tag}/releases`;
  let answer = GARBAGE[0]!;
  let valid = false;
  const api = createServer((req, res) => {
    if (req.url?.split('?')[0] !== path) return void res.writeHead(404).end('{"message":"Not Found"}');
    res.writeHead(200, { 'content-type': valid ? 'application/json' : answer.type });
    res.end(valid ? RELEASES : answer.body);
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  const apiUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
  try {
    // The catalog in a git repository of its own (updates are branches of it); its base package watched.
    const dir = t.catalog.dir;
    await appendFile(join(dir, 'catalog.yaml'), `updates:\n  githubApi: ${apiUrl}\n`);
    await appendFile(
      join(dir, 'packages', `${base}.yaml`),
      `update:\n  enabled: true\n  github:\n    identifier: acme/${t.tag}\n    strip-prefix: v\n`,
    );
    await git(dir, 'init', '-q', '-b', 'main');
    await git(dir, 'add', '.');
    await git(dir, 'commit', '-q', '-m', 'catalog');
    lab.startWorker(t.queue);
    let polls = 0;
    const poll = async (): Promise<UpstreamPackageReport | undefined> =>
      (
        await lab.client.workflow.execute(upstreamWatch, {
          taskQueue: t.queue,
          workflowId: `faults-${t.tag}-watch-${polls++}`,
          args: [{ catalogDir: dir }],
        })
      ).packages.find((p) => p.name === base);
    const branches = async () =>
      (await git(dir, 'for-each-ref', '--format=%(refname:short)', 'refs/heads/kiln/update/')).stdout.trim();

    const at = ledger(lab.env, t.catalog);
    const also: [boolean, string][] = [];
    const said: string[] = [];
    for (const g of GARBAGE) {
      answer = g;
      const r = await poll();
      const error = r?.error ?? '';
      said.push(error);
      also.push(
        [r?.action === 'error' && r.checked === false, `${g.kind}: reported ${r?.action ?? 'nothing'}, not an error`],
        [error.includes(`${apiUrl}${path}`), `${g.kind}: the error does not name the URL: ${error.slice(0, 200)}`],
        [g.says.test(error), `${g.kind}: the error does not say what was wrong: ${error.slice(0, 200)}`],
        [(await branches()) === '', `${g.kind}: a branch was made: ${await branches()}`],
      );
    }
    const quiet = JSON.stringify([...ledger(lab.env, t.catalog)]) === JSON.stringify([...at]);
    also.push([quiet, 'something was built while the upstream answered garbage']);

    valid = true;
    const back = Date.now();
    const update = await poll();
    const branch = `kiln/update/${base}-1.1.0`;
    also.push([
      update?.action === 'updated' && update.branch === branch && update.latest === '1.1.0',
      `with a release upstream: ${JSON.stringify(update)}`,
    ]);
    const workflowId = `package-update/${base}/1.1.0`;
    if (update?.workflowId !== workflowId) throw new Error(`no update started: ${JSON.stringify(update)}`);
    const summary = await lab.summary(
      (await lab.client.workflow.getHandle(workflowId).result()) as CatalogRebuildResult,
    );
    const recoverMs = Date.now() - back;
    // A poll after the update: the branch and the run exist, nothing is made or started again.
    const again = await poll();
    also.push(
      [again?.action === 'update-pending', `the poll after the update: ${again?.action ?? 'nothing'}`],
      [(await branches()) === branch, `branches: ${await branches()}`],
      [summary.target?.kind === 'staging', `the update built into ${summary.target?.kind ?? 'nothing'}, not staging`],
      [
        summary.packages.some((p) => p.name === base && p.version === '1.1.0' && p.status === 'built'),
        `${base} 1.1.0 not built: ${summary.packages.map((p) => `${p.name} ${p.version} ${p.status}`).join(', ')}`,
      ],
      [
        (await readFile(join(dir, 'packages', `${base}.yaml`), 'utf8')).includes('version: 1.0.0'),
        'the main checkout changed',
      ],
    );
    return await assess(lab, fault, t, [summary], at, {
      recoverMs,
      also,
      note: `while garbage: ${said.map((e) => e.replace(/^.*\(GitHub API shape\): /, '').slice(0, 70)).join(' / ')}`,
    });
  } finally {
    api.close();
  }
});
