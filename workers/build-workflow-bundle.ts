// Prebuilds the workflow bundle for production workers (KILN_WORKFLOW_BUNDLE=dist/workflow-bundle.js),
// so a worker starts without webpack and runs exactly the code that was reviewed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { REPO_ROOT } from '../config/config.js';
import { WORKFLOWS_PATH } from './worker.js';

const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH });
const out = join(REPO_ROOT, 'dist', 'workflow-bundle.js');
mkdirSync(join(REPO_ROOT, 'dist'), { recursive: true });
writeFileSync(out, code);
console.log(`workflow bundle written to ${out} (${Math.round(code.length / 1024)} KiB)`);
