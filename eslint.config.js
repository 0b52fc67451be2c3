import js from '@eslint/js';
import globals from 'globals';
import jsxA11y from 'eslint-plugin-jsx-a11y';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      'data/**',
      'artifacts/**',
      'backend/src/infra/db/generated/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.test.ts', 'backend/test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // Code in the e2e and web-benchmark scripts partly runs in the page (page.evaluate).
    files: ['scripts/e2e*.mjs', 'scripts/e2e/**/*.mjs', 'scripts/bench-web.mjs', 'frontend/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['frontend/src/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'error' },
  },
  // Accessibility of the web app's markup (labels, roles, keyboard access), as errors.
  { files: ['frontend/src/**/*.tsx'], ...jsxA11y.flatConfigs.recommended },
  {
    files: ['frontend/src/**/*.tsx'],
    rules: {
      // Focus moves on purpose, and only where the user went to type: a dialog's first field,
      // the sign-in and registration forms, the composer of the chat just opened.
      'jsx-a11y/no-autofocus': 'off',
      // Voice notes and videos are people's own recordings: there are no captions to offer.
      'jsx-a11y/media-has-caption': 'off',
    },
  },
);
