// `kiln plan` options: --format takes only text, json or dot; --since takes a git ref.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerPlan } from '../../../cli/plan.js';

function program(): Command {
  const p = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerPlan(p);
  return p;
}

describe('kiln plan options', () => {
  it('rejects an unknown format, naming the choices', async () => {
    const err = await program()
      .parseAsync(['node', 'kiln', 'plan', '--format', 'yaml'])
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('commander.invalidArgument');
    expect((err as Error).message).toContain('text, json, dot');
  });

  it('lists --format and --since in its help', () => {
    const plan = program().commands.find((c) => c.name() === 'plan')!;
    const flags = plan.options.map((o) => o.long);
    expect(flags).toEqual(expect.arrayContaining(['--catalog', '--format', '--since']));
    expect(plan.options.find((o) => o.long === '--format')!.argChoices).toEqual(['text', 'json', 'dot']);
  });
});
