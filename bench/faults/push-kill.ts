// Fault row: the worker pushing an image is killed with SIGKILL in the middle of the push (one blob
// of the image's manifest uploaded, the next one starting, no manifest put yet), a new worker is
// started. The push ran on the killed worker's own task queue, where its layout was: kiln has to
// notice that worker is gone (the push's heartbeat times out, the retry is never picked up from
// that queue) and assemble the image again on the new worker, then push, sign, attest and tag.
import { ledger, type Ledger } from './assess.js';
import type { FaultLab, WorkerProcess } from './lab.js';
import { assess, guarded, result, trial } from './trial.js';

type Request = FaultLab['proxy']['requests'][number];

/** Blob uploads finished (`PUT …/blobs/uploads/…?digest=`) among `requests`: their digests. */
const blobsPut = (requests: Request[], repo: RegExp) =>
  requests
    .filter((r) => r.method === 'PUT' && repo.test(r.path) && r.path.includes('/blobs/uploads/'))
    .map((r) => new URL(r.path, 'http://proxy').searchParams.get('digest') ?? '?');

/**
 * Kills `worker` (SIGKILL) when the proxy forwards the `nth` blob upload start in `repo`, at that
 * moment (the proxy records a request before forwarding it, so the kill lands before the upload
 * goes on), and takes the ledger then. Resolves with the request index and the ledger.
 */
function killOnUpload(
  lab: FaultLab,
  worker: WorkerProcess,
  repo: RegExp,
  nth: number,
  take: () => Ledger,
): Promise<{ index: number; at: Ledger; time: number }> {
  const requests = lab.proxy.requests;
  let seen = 0;
  return new Promise((resolve) => {
    requests.push = (...items: Request[]) => {
      const n = Array.prototype.push.apply(requests, items);
      seen += items.filter(
        (r) => r.method === 'POST' && repo.test(r.path) && r.path.endsWith('/blobs/uploads/'),
      ).length;
      if (seen >= nth && Object.hasOwn(requests, 'push')) {
        worker.child.kill('SIGKILL');
        Reflect.deleteProperty(requests, 'push');
        resolve({ index: n - 1, at: take(), time: Date.now() });
      }
      return n;
    };
  });
}

export const workerKilledMidPush = guarded('worker SIGKILL mid-push, new worker', false, async (lab, fault) => {
  const t = await trial(lab, 'pushkill');
  // The image's repository: `<tag>/…/<tag>-top` (a staging namespace in between, the catalog not being
  // the worker's own).
  const repo = new RegExp(`^/v2/${t.tag}/(.+/)?${t.tag}-top/`);
  const first = lab.startWorker(t.queue);
  // The second upload starts once the first blob (the image config) is in the registry.
  const killed = killOnUpload(lab, first, repo, 2, () => ledger(lab.env, t.catalog));
  const handle = await t.start();
  // A run that ends before the kill was never mid-push: the row says so rather than wait forever.
  const ended = result(handle).then(
    () => undefined,
    () => undefined,
  );
  const kill = await Promise.race([killed, ended]);
  if (!kill) throw new Error('the run ended before the push the worker was to be killed in');
  const { index, at, time } = kill;
  await first.stop('SIGKILL');
  lab.startWorker(t.queue);
  const summary = await lab.summary(await result(handle));

  const before = lab.proxy.requests.slice(0, index + 1);
  const after = lab.proxy.requests.slice(index + 1);
  const donePut = blobsPut(before, repo);
  const putAgain = blobsPut(after, repo).filter((d) => donePut.includes(d));
  const manifestBefore = before.some((r) => r.method === 'PUT' && repo.test(r.path) && r.path.includes('/manifests/'));
  // What the image's workflow asked for: assembly on any worker, the push on the assembling worker's queue.
  const history = await lab.client.workflow.getHandle(`${handle.workflowId}/image/${t.tag}-top`).fetchHistory();
  const scheduled = (history.events ?? []).flatMap((e) => {
    const a = e.activityTaskScheduledEventAttributes;
    return a ? [{ activity: a.activityType?.name, queue: a.taskQueue?.name }] : [];
  });
  const assemblies = scheduled.filter((s) => s.activity === 'assembleImage').length;
  const pushQueues = new Set(scheduled.filter((s) => s.activity === 'pushImage').map((s) => s.queue));
  const apko = [...ledger(lab.env, t.catalog)].filter(([key]) => key.startsWith('assemble ')).map(([, e]) => e.started);
  const assembled = [...at].filter(([key, e]) => key.startsWith('assemble ') && e.finished).length;
  return assess(lab, fault, t, [summary], at, {
    recoverMs: Date.now() - time,
    redone: {
      count: putAgain.length,
      details: putAgain.map((d) => `blob ${d} uploaded again after the kill`),
    },
    also: [
      [donePut.length >= 1, 'no blob upload had finished when the worker was killed (not mid-push)'],
      [!manifestBefore, 'a manifest was put before the kill (the push had ended)'],
      [assembled === 1, `${assembled} assembled layout(s) of the image when the worker was killed, 1 expected`],
      [
        assemblies === 2,
        `assembleImage scheduled ${assemblies} times, 2 expected (before the kill, on the new worker)`,
      ],
      [pushQueues.size === 2, `pushImage ran on ${pushQueues.size} worker queue(s), 2 expected`],
    ],
    note:
      `killed as upload 2 began (${donePut.length} blob(s) in the registry, no manifest); ` +
      `${blobsPut(after, repo).length} blob uploads after (the rest of the image, signature, attestations), ` +
      `none of a blob already there; assembled again on the new worker ` +
      `(apko runs per input digest: ${apko.join(', ')}; the layout on the shared disk was reused)`,
  });
});
