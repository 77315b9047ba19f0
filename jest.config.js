/** @type {import('jest').Config} */
module.exports = {
  roots: ["<rootDir>/test", "<rootDir>/agent/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // Type checking is `npm run typecheck` (tsc --noEmit); jest only transpiles.
    "^.+\\.ts$": ["ts-jest", { tsconfig: { module: "commonjs", moduleResolution: "node", isolatedModules: true } }],
  },
  testEnvironment: "node",
  testTimeout: 120000,
  // Jest's own worker pool would fight the llama.cpp servers for the 2 cores.
  maxWorkers: 1,
};
