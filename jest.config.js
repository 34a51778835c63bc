// Two projects: `unit` (pure logic beside the code, no services) and `e2e` (real Redis, Postgres,
// S3 server and loopback upstreams, started once per run by test/global-setup.ts).
const moduleNameMapper = {
  '^@app/(config|storage|cache|jobs|db|metrics|common|health|upstream|formats|eviction)$':
    '<rootDir>/libs/$1/src',
  '^@app/(config|storage|cache|jobs|db|metrics|common|health|upstream|formats|eviction)/(.*)$':
    '<rootDir>/libs/$1/src/$2',
};
const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }],
};
const common = { rootDir: __dirname, moduleNameMapper, transform, testEnvironment: 'node' };

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/apps/**/*.spec.ts',
        '<rootDir>/libs/**/*.spec.ts',
        '<rootDir>/bench/**/*.spec.ts',
        '<rootDir>/tools/**/*.spec.ts',
      ],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts', '<rootDir>/libs/**/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
      // jest 29 ignores testTimeout inside a project; this file sets it for e2e specs.
      setupFilesAfterEnv: ['<rootDir>/test/e2e-timeout.ts'],
    },
  ],
};
