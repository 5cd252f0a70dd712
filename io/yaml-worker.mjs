// The worker thread of io/fast-yaml.mjs parseOnWorker: reads and parses the files it is given and
// answers once, with every file's text and data (undefined where js-yaml cannot read it: the
// catalog loader then parses that file with `yaml`, which says why).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { loadYamlData } from './fast-yaml.mjs';

const { dir, files } = /** @type {{ dir: string, files: string[] }} */ (workerData);
parentPort?.postMessage(
  files.map((file) => {
    const text = readFileSync(join(dir, file), 'utf8');
    return { text, data: loadYamlData(text) };
  }),
);
