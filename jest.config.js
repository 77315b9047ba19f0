/** @type {import('jest').Config} */
module.exports = {
  roots: ["<rootDir>/test", "<rootDir>/agent/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // Type checking is `npm run typecheck` (tsc --noEmit); jest only transpiles.
    "^.+\\.ts$": ["ts-jest", { tsconfig: { module: "commonjs", moduleResolution: "node", isolatedModules: true } }],
  },
  // Node's environment, sharing the main realm's typed arrays: onnxruntime-node (VAD,
  // vision) checks tensors with instanceof across realms. See the file.
  testEnvironment: "<rootDir>/test/support/onnx-environment.js",
  testTimeout: 120000,
  // Every temporary file of a run goes under one directory, removed at its end (see the file).
  globalSetup: "<rootDir>/test/support/test-tmpdir-setup.js",
  globalTeardown: "<rootDir>/test/support/test-tmpdir-teardown.js",
  // Jest's own worker pool would fight the llama.cpp servers for the 2 cores.
  maxWorkers: 1,
};
