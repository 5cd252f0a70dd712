// Runs the nodes of a dependency graph as soon as their dependencies are done, at most `limit` at
// a time (a sliding window, no level-by-level barrier). A failure blocks only what depends on it,
// directly or not; independent branches go on. A continued run passes what earlier runs finished
// (`finished`), and `stop` ends a run early: nothing new starts, the running nodes finish, and the
// nodes never started are left out of the outcomes. Workflow code: deterministic, no I/O.
import { condition } from '@temporalio/workflow';

export type Outcome<T> =
  { kind: 'ok'; value: T } | { kind: 'failed'; error: unknown } | { kind: 'blocked'; by: string };

export interface DagNode {
  name: string;
  dependsOn: string[];
}

export interface DagOptions<T> {
  /** Outcomes of nodes an earlier run finished: not run again; their dependents see them. */
  finished?: Map<string, Outcome<T>>;
  /** Asked before each start: true starts nothing more (the run continues-as-new). */
  stop?: () => boolean;
}

export async function runDag<T>(
  nodes: DagNode[],
  limit: number,
  run: (name: string, dependencies: Map<string, T>) => Promise<T>,
  options: DagOptions<T> = {},
): Promise<Map<string, Outcome<T>>> {
  const outcomes = new Map<string, Outcome<T>>(options.finished);
  const waiting = nodes
    .filter((n) => !outcomes.has(n.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let running = 0;
  let settled = 0;

  while (waiting.length > 0 || running > 0) {
    if (options.stop?.()) {
      // Let what runs finish; what never started is for the next run.
      if (running === 0) break;
      const seen = settled;
      await condition(() => settled > seen);
      continue;
    }
    for (let i = 0; i < waiting.length;) {
      const node = waiting[i]!;
      const deps = node.dependsOn.map((d) => [d, outcomes.get(d)] as const);
      if (deps.some(([, o]) => o === undefined)) {
        i++;
        continue;
      }
      const bad = deps.find(([, o]) => o!.kind !== 'ok');
      if (bad) {
        const [dep, o] = bad;
        outcomes.set(node.name, { kind: 'blocked', by: o?.kind === 'blocked' ? o.by : dep });
        waiting.splice(i, 1);
        i = 0; // a newly blocked node may block others earlier in the list
        continue;
      }
      if (running >= limit) {
        i++;
        continue;
      }
      waiting.splice(i, 1);
      running++;
      const values = new Map(deps.map(([d, o]) => [d, (o as { kind: 'ok'; value: T }).value]));
      run(node.name, values)
        .then(
          (value) => outcomes.set(node.name, { kind: 'ok', value }),
          (error: unknown) => outcomes.set(node.name, { kind: 'failed', error }),
        )
        .finally(() => {
          running--;
          settled++;
        });
    }
    if (running === 0 && waiting.length > 0) {
      // Nothing runs and nothing can start: only possible with a dependency outside `nodes`.
      for (const node of waiting.splice(0))
        outcomes.set(node.name, { kind: 'blocked', by: node.dependsOn.find((d) => !outcomes.has(d)) ?? '?' });
      break;
    }
    if (running > 0) {
      const seen = settled;
      await condition(() => settled > seen);
    }
  }
  return outcomes;
}
