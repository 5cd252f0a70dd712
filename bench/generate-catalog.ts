// Generates a synthetic catalog of shell-only packages for scale tests and benchmarks:
// `count` packages in `depth` layers, each building against one or two packages of the layer
// below, plus (unless `image: false`) one image on the top layer. Every build is a few busybox commands.
// With `features: true` (bench/catalog.ts) each config uses what kiln reads of melange: substitutions,
// vars, var-transforms, `data:` with `range:` subpackages, provides (virtual, versioned, `so:`),
// constraints (`>=`, `~`), and the build edges come through subpackages and provides; plus `images`
// apko images, half of them through an `include:`d base config.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface GeneratedCatalog {
  dir: string;
  packages: { name: string; dependsOn: string[] }[];
}

/** A melange config using the substitutions, ranges, provides and constraints kiln understands. */
function featureConfig(name: string, i: number, layer: number, deps: string[]): string {
  // Edges through a constraint, a subpackage and a `so:` provide of the packages below.
  const build = deps.flatMap((d, k) => (k === 0 ? [`${d}>=1.0`, `so:lib${d}.so.3`] : [`${d}-dev`]));
  return [
    `# generated package ${i} (layer ${layer})`,
    'package:',
    `  name: ${name}`,
    `  version: 1.${i % 10}.${i}`,
    '  epoch: 0',
    '  description: generated package ${{vars.short-version}}',
    '  copyright:',
    '    - license: Apache-2.0',
    '  dependencies:',
    ...(deps.length ? ['    runtime:', `      - ${deps[0]}~1`] : []),
    '    provides:',
    '      - ${{package.name}}-virtual=${{package.full-version}}',
    'vars:',
    '  soversion: "3"',
    'var-transforms:',
    '  - from: ${{package.version}}',
    '    match: ^(\\d+)\\.(\\d+)\\.\\d+$',
    '    replace: ${1}.${2}',
    '    to: short-version',
    'data:',
    '  - name: flavours',
    '    items:',
    '      docs: documentation',
    '      examples: examples',
    'environment:',
    '  contents:',
    `    packages: [${build.join(', ')}]`,
    'pipeline:',
    '  - runs: |',
    '      mkdir -p "${{targets.destdir}}/usr/share/gen"',
    `      echo "${name} built on: ${deps.join(' ') || 'nothing'}" > "\${{targets.destdir}}/usr/share/gen/${name}"`,
    'subpackages:',
    '  - name: ${{package.name}}-dev',
    '    description: headers of ${{package.name}} ${{vars.short-version}}',
    '    pipeline:',
    '      - runs: mkdir -p "${{targets.subpkgdir}}"',
    '  - name: lib${{package.name}}${{vars.soversion}}',
    '    dependencies:',
    '      provides:',
    '        - so:lib${{package.name}}.so.${{vars.soversion}}=${{vars.soversion}}',
    '  - range: flavours',
    '    name: ${{package.name}}-${{range.key}}',
    '    description: ${{range.value}} of ${{package.name}}',
    '',
  ].join('\n');
}

/** `images` apko images of the top packages (and their range subpackages), every other one including a base. */
async function featureImages(dir: string, packages: GeneratedCatalog['packages'], images: number): Promise<void> {
  await mkdir(join(dir, 'apko'), { recursive: true });
  await writeFile(join(dir, 'apko', 'base.yaml'), 'environment:\n  LANG: C.UTF-8\narchs: [x86_64]\n');
  for (let j = 0; j < images; j++) {
    const p = packages[packages.length - 1 - ((j * 7) % packages.length)]!.name;
    const name = `img-${String(j).padStart(4, '0')}`;
    await mkdir(join(dir, 'images', name), { recursive: true });
    await writeFile(
      join(dir, 'images', name, 'apko.yaml'),
      [
        ...(j % 2 ? [] : ['include: apko/base.yaml']),
        'contents:',
        `  packages: [${p}, ${p}-docs, lib${p}3]`,
        'entrypoint:',
        `  command: /usr/share/gen/${p}`,
        'archs: [x86_64]',
        '',
      ].join('\n'),
    );
  }
}

export async function generateCatalog(
  dir: string,
  o: {
    count: number;
    depth: number;
    concurrency?: number;
    sleep?: number;
    image?: boolean;
    repository?: string;
    /** Names `<prefix>-0000`… and the image `<prefix>-top` (default `gen`): unique names keep logs apart. */
    prefix?: string;
    /** The registry path under `${KILN_REGISTRY}` (default `kiln`). */
    registryPath?: string;
    features?: boolean;
    images?: number;
  },
): Promise<GeneratedCatalog> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'packages'), { recursive: true });
  const perLayer = Math.ceil(o.count / o.depth);
  const packages: GeneratedCatalog['packages'] = [];
  for (let i = 0; i < o.count; i++) {
    const layer = Math.floor(i / perLayer);
    const below = layer ? packages.slice((layer - 1) * perLayer, layer * perLayer) : [];
    // Deterministic fan-in: the same index and its neighbour in the layer below.
    const deps = below.length ? [...new Set([below[i % below.length]!.name, below[(i + 1) % below.length]!.name])] : [];
    const name = `${o.prefix ?? 'gen'}-${String(i).padStart(4, '0')}`;
    packages.push({ name, dependsOn: deps });
    const config = o.features
      ? featureConfig(name, i, layer, deps)
      : [
          'package:',
          `  name: ${name}`,
          '  version: 1.0.0',
          '  epoch: 0',
          `  description: generated package ${i} (layer ${layer})`,
          '  copyright:',
          '    - license: Apache-2.0',
          'environment:',
          '  contents:',
          `    packages: [busybox${deps.map((d) => `, ${d}`).join('')}]`,
          'pipeline:',
          '  - runs: |',
          ...(o.sleep ? [`      sleep ${o.sleep}`] : []),
          `      mkdir -p "\${{targets.destdir}}/usr/share/gen"`,
          `      echo "${name} built on: ${deps.join(' ') || 'nothing'}" > "\${{targets.destdir}}/usr/share/gen/${name}"`,
          '',
        ].join('\n');
    await writeFile(join(dir, 'packages', `${name}.yaml`), config);
  }
  await writeFile(
    join(dir, 'catalog.yaml'),
    [
      '# Generated by bench/generate-catalog.ts',
      'archs: [x86_64]',
      'repositories: ["${KILN_STATE}/bootstrap"]',
      'keyring: ["${KILN_STATE}/keys/kiln.rsa.pub"]',
      `packageRepository: "\${KILN_STATE}/${o.repository ?? 'repo'}"`,
      `registry: "\${KILN_REGISTRY:-127.0.0.1:5000}/${o.registryPath ?? 'kiln'}"`,
      'namespace: kiln',
      `concurrency: { packages: ${o.concurrency ?? 2}, images: 1 }`,
      '',
    ].join('\n'),
  );
  if (o.features) {
    await featureImages(dir, packages, o.images ?? 1);
    return { dir, packages };
  }
  if (o.image === false) return { dir, packages };
  const top = packages[packages.length - 1]!.name;
  const image = `${o.prefix ?? 'gen'}-top`;
  await mkdir(join(dir, 'images', image), { recursive: true });
  await writeFile(
    join(dir, 'images', image, 'apko.yaml'),
    `contents:\n  packages: [busybox, ${top}]\nentrypoint:\n  command: /bin/sh\narchs: [x86_64]\n`,
  );
  return { dir, packages };
}
