// A person starts a rebuild from the embedded Web UI: real Chromium fills and submits the Start
// Workflow form, and the run completes through a real worker.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { connectTemporal, isolatedFixture, kilnTestEnv, rebuildSummary, type TemporalHarness } from '../harness.js';

const env = kilnTestEnv();
let temporal: TemporalHarness;
let browser: BrowserContext;
let work: string;

beforeAll(async () => {
  temporal = await connectTemporal(env);
  work = await mkdtemp(join(tmpdir(), 'kiln-webui-'));
  await isolatedFixture('tiny', join(work, 'catalog'), 'webui');
  // A fresh profile per run: nothing from an earlier session (cookies, saved form values) leaks in.
  browser = await chromium.launchPersistentContext(join(work, 'chromium-profile'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  await temporal?.close();
});

describe('the embedded Web UI', () => {
  it('starts catalogRebuild from the Start Workflow form with one JSON input, and the run completes', async () => {
    const workflowId = `webui-${Date.now()}`;
    const taskQueue = `webui-${Date.now()}`;
    const input = JSON.stringify({ catalogDir: join(work, 'catalog') });
    const page = await browser.newPage();
    // Generous: the first load compiles the UI's bundle on a busy 2-core machine.
    page.setDefaultTimeout(60_000);
    try {
      await page.goto(`${env.KILN_WEB_UI}/namespaces/default/workflows/start-workflow`);
      await page.locator('#workflowId').fill(workflowId);
      await page.locator('#taskQueue').fill(taskQueue);
      await page.locator('#workflowType').fill('catalogRebuild');
      // The input box is a code editor: type into it as a person would.
      await page.locator('[contenteditable="true"]').first().click();
      await page.keyboard.type(input);
      // Leave the editor as a person would before pressing Start: it reformats the JSON on blur.
      await page.locator('#workflowType').click();
      const worker = await temporal.worker(taskQueue);
      const summary = await worker.runUntil(async () => {
        await page.getByRole('button', { name: 'Start Workflow' }).click();
        const handle = temporal.client.workflow.getHandle(workflowId);
        const deadline = Date.now() + 30_000;
        while (
          !(await handle.describe().then(
            () => true,
            () => false,
          ))
        ) {
          if (Date.now() > deadline) throw new Error('the form was submitted but no workflow started');
          await new Promise((r) => setTimeout(r, 250));
        }
        return await rebuildSummary(await handle.result());
      });
      expect(summary.ok).toBe(true);
      expect(summary.packages.map((p) => p.name)).toEqual(['tiny-app', 'tiny-lib']);
      expect(summary.images.map((i) => [i.name, i.status])).toEqual([
        ['tiny-app', expect.stringMatching(/published|unchanged/)],
      ]);
      // The form sent exactly one JSON object as the workflow's only argument.
      const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
      const args = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
      expect(args.map((p) => JSON.parse(Buffer.from(p.data!).toString('utf8')) as unknown)).toEqual([
        JSON.parse(input),
      ]);
      const started = await temporal.client.workflow.getHandle(workflowId).describe();
      expect(started.type).toBe('catalogRebuild');
      expect(started.taskQueue).toBe(taskQueue);
    } catch (err) {
      await page.screenshot({ path: join(work, 'failure.png'), fullPage: true });
      throw new Error(`${(err as Error).message}\n(screenshot: ${join(work, 'failure.png')})`);
    }
  });
});
