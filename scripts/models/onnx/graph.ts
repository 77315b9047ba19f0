// A small builder for ONNX graphs, so the project can make tiny models in exactly the
// format a runtime loads (sherpa-onnx's speech bundles, a YOLOv8-shaped detector) and
// run the real loading and inference code in tests. No weights can be downloaded here.
//
// Usage:
//   const g = new OnnxGraph("tiny");
//   g.input("x", "float", [1, "T"]);
//   const y = g.node("Relu", ["x"]);
//   g.output(y, "float", [1, "T"]);            // or g.output("y", ...) after naming
//   fs.writeFileSync(path, g.toBytes({ metadata: { model_type: "demo" } }));
import { onnx } from "onnx-proto";

export type ElementType = "float" | "int64" | "int32" | "bool" | "uint8" | "int8";
/** A dimension: a fixed size, or a symbolic name for a dynamic one ("T", "batch"). */
export type Dim = number | string;

const DATA_TYPE: Record<ElementType, onnx.TensorProto.DataType> = {
  float: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
  uint8: onnx.TensorProto.DataType.UINT8,
  int8: onnx.TensorProto.DataType.INT8,
};

/** Node attribute values; arrays of integers become `ints`, of non-integers `floats`. */
export type AttributeValue =
  | number
  | string
  | number[]
  | { floats: number[] }
  | { ints: number[] }
  | { tensor: TensorInit };

export interface TensorInit {
  type: ElementType;
  dims: number[];
  values: ArrayLike<number>;
}

export interface ModelOptions {
  /** Key/value pairs in `metadata_props`, read by e.g. sherpa-onnx (`vocab_size`, `sample_rate`). */
  metadata?: Record<string, string | number>;
  /** Default-domain opset; 13 loads in every ONNX Runtime we ship (1.23 and sherpa's 1.28). */
  opset?: number;
  producer?: string;
}

function valueInfo(name: string, type: ElementType, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[type],
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export function tensorProto(name: string, t: TensorInit): onnx.ITensorProto {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (t.values.length !== count) {
    throw new Error(`ONNX tensor ${name}: ${t.values.length} values for dims [${t.dims.join(", ")}] (expected ${count})`);
  }
  const base: onnx.ITensorProto = { name, dataType: DATA_TYPE[t.type], dims: t.dims };
  // Raw little-endian bytes keep big tensors compact and avoid Long handling for int64.
  let raw: Uint8Array;
  switch (t.type) {
    case "float":
      raw = new Uint8Array(Float32Array.from(t.values).buffer);
      break;
    case "int64":
      raw = new Uint8Array(BigInt64Array.from(Array.from(t.values, (v) => BigInt(Math.trunc(v)))).buffer);
      break;
    case "int32":
      raw = new Uint8Array(Int32Array.from(t.values).buffer);
      break;
    case "bool":
    case "uint8":
      raw = Uint8Array.from(t.values);
      break;
    case "int8":
      raw = new Uint8Array(Int8Array.from(t.values).buffer);
      break;
  }
  return { ...base, rawData: raw };
}

function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === "number") {
    return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
  }
  if (typeof value === "string") return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) {
    return value.every(Number.isInteger) ? { name, type: T.INTS, ints: value } : { name, type: T.FLOATS, floats: value };
  }
  if ("floats" in value) return { name, type: T.FLOATS, floats: value.floats };
  if ("ints" in value) return { name, type: T.INTS, ints: value.ints };
  return { name, type: T.TENSOR, t: tensorProto(`${name}_value`, value.tensor) };
}

export class OnnxGraph {
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly nodes: onnx.INodeProto[] = [];
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh tensor name with a readable prefix. */
  fresh(prefix = "t"): string {
    this.counter += 1;
    return `${prefix}_${this.counter}`;
  }

  input(name: string, type: ElementType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Declares `name` a graph output; if `from` is given, an Identity names it. */
  output(name: string, type: ElementType, dims: Dim[], from?: string): string {
    if (from !== undefined && from !== name) this.node("Identity", [from], {}, [name]);
    this.outputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** A constant tensor stored in the model (weights, lookup tables, shapes). */
  constant(type: ElementType, dims: number[], values: ArrayLike<number>, name = this.fresh("const")): string {
    this.initializers.push(tensorProto(name, { type, dims, values }));
    return name;
  }

  /** Shorthands for the constants graphs need most. */
  floats(values: number[], dims: number[] = [values.length]): string {
    return this.constant("float", dims, values);
  }
  int64s(values: number[], dims: number[] = [values.length]): string {
    return this.constant("int64", dims, values);
  }
  scalar(value: number, type: ElementType = "float"): string {
    return this.constant(type, [], [value]);
  }

  /**
   * Adds a node and returns its first output's name. Pass `outputs` to name them
   * (or to get several); otherwise one fresh name is made. An empty string in
   * `inputs` stands for an omitted optional input.
   */
  node(opType: string, inputs: string[], attrs: Record<string, AttributeValue> = {}, outputs?: string[]): string {
    const outs = outputs ?? [this.fresh(opType.toLowerCase())];
    this.nodes.push({
      opType,
      name: this.fresh(`n_${opType}`),
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs[0];
  }

  /** Serialized ModelProto bytes, ready for `fs.writeFileSync`. */
  toBytes(options: ModelOptions = {}): Uint8Array {
    const model: onnx.IModelProto = {
      irVersion: 7,
      producerName: options.producer ?? "aide",
      opsetImport: [{ domain: "", version: options.opset ?? 13 }],
      graph: {
        name: this.name,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      },
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value: String(value) })),
    };
    const err = onnx.ModelProto.verify(model);
    if (err) throw new Error(`ONNX model ${this.name} is malformed: ${err}`);
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}
