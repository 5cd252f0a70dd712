// Types of io/fast-yaml.mjs (plain JavaScript so that a worker thread can load it).

/** The data of one YAML document under `yaml`'s core schema, or undefined when js-yaml cannot read it. */
export function loadYamlData(text: string): unknown;

/** The same document with every scalar as its text (as Go reads a scalar into a string field). */
export function loadYamlText(text: string): unknown;

/** Each file's text and data (loadYamlData), read and parsed on a worker thread, in the order given. */
export function parseOnWorker(dir: string, files: string[]): Promise<{ text: string; data: unknown }[]>;
