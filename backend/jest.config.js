// Backend tests: jest on native ESM (run with --experimental-vm-modules), TypeScript by SWC.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Tests that do not depend on the database, Redis or storage mode (the container image,
  // compose files, Kubernetes manifests, the analysis processes, the OCR) run once: CI's
  // second and third runs of the suite (PostgreSQL; PostgreSQL with Redis and S3) set
  // TEST_MODE_FREE=skip.
  testPathIgnorePatterns:
    process.env.TEST_MODE_FREE === 'skip'
      ? [
          '/node_modules/',
          '/test/ops/(image|compose|k8s)\\.test\\.ts$',
          '/src/media/analysis/(analyser|ocr-pipeline)\\.test\\.ts$',
        ]
      : ['/node_modules/'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'es6' },
      },
    ],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // A safety net for a busy machine, not an expectation of speed.
  testTimeout: 120000,
  maxWorkers: 2,
};
