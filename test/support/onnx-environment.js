// Jest runs each test file in its own realm, but onnxruntime-node builds output tensors
// from typed arrays made in Node's main realm, and onnxruntime-common's `instanceof
// Float32Array` check then fails ("A float32 tensor's data must be type of function
// Float32Array()"). Giving the test realm the main realm's typed arrays makes both one.
// jest.config.js makes it every suite's environment (all of them run in Node).
const { TestEnvironment } = require("jest-environment-node");

const SHARED = [
  "ArrayBuffer", "SharedArrayBuffer", "DataView", "Float32Array", "Float64Array", "Int8Array", "Int16Array",
  "Int32Array", "Uint8Array", "Uint8ClampedArray", "Uint16Array", "Uint32Array", "BigInt64Array", "BigUint64Array",
];

class OnnxRuntimeEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = OnnxRuntimeEnvironment;
