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
  // Jest's own worker pool would fight the llama.cpp servers for the 2 cores.
  maxWorkers: 1,
};
