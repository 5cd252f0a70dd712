// Lint: typescript-eslint with type information (floating promises are bugs in a durable
// pipeline), and workflow code kept deterministic: no Node built-ins, activities by type only.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.kiln/', 'test/fixtures/**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: builtinModules
            .flatMap((m) => [m, `node:${m}`])
            .map((name) => ({
              name,
              message: 'Workflow code runs in a deterministic sandbox: no Node built-ins (do it in an activity).',
            })),
          patterns: [
            {
              group: ['../activities/*', '!../activities/index.js'],
              message:
                'Workflows use activities through proxyActivities<KilnActivities>: import types from activities/index.js only.',
            },
            {
              group: [
                '../activities/*',
                '../adapters/*',
                '../oci/*',
                '../io/*',
                '../apk/*',
                '../config/*',
                '../setup/*',
                '../cli/*',
              ],
              allowTypeImports: true,
              message: 'Workflow code may import only types from activity-side modules.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
