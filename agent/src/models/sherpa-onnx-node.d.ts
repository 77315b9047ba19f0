// sherpa-onnx-node 1.13.8 ships no TypeScript declarations; these cover the part Aide
// uses (offline/online recognition, offline TTS), written from the package's types.js.
declare module "sherpa-onnx-node" {
  export interface Waveform {
    samples: Float32Array;
    sampleRate: number;
  }

  export interface FeatureConfig {
    sampleRate?: number;
    featureDim?: number;
  }

  export interface OfflineModelConfig {
    nemoCtc?: { model: string };
    zipformerCtc?: { model: string };
    whisper?: { encoder: string; decoder: string; language?: string; task?: string; tailPaddings?: number };
    moonshine?: { preprocessor?: string; encoder: string; uncachedDecoder: string; cachedDecoder: string };
    senseVoice?: { model: string; language?: string; useInverseTextNormalization?: number };
    transducer?: { encoder: string; decoder: string; joiner: string };
    tokens: string;
    numThreads?: number;
    debug?: boolean | number;
    provider?: string;
  }

  export interface OfflineRecognizerConfig {
    featConfig?: FeatureConfig;
    modelConfig: OfflineModelConfig;
    decodingMethod?: string;
  }

  export interface OfflineRecognizerResult {
    text: string;
    tokens: string[];
    timestamps: number[];
  }

  export class OfflineStream {
    acceptWaveform(w: Waveform): void;
  }

  export class OfflineRecognizer {
    constructor(config: OfflineRecognizerConfig);
    static createAsync(config: OfflineRecognizerConfig): Promise<OfflineRecognizer>;
    createStream(): OfflineStream;
    decode(stream: OfflineStream): void;
    decodeAsync(stream: OfflineStream): Promise<OfflineRecognizerResult>;
    getResult(stream: OfflineStream): OfflineRecognizerResult;
  }

  export interface OnlineModelConfig {
    nemoCtc?: { model: string };
    zipformer2Ctc?: { model: string };
    transducer?: { encoder: string; decoder: string; joiner: string };
    tokens: string;
    numThreads?: number;
    debug?: boolean | number;
    provider?: string;
  }

  export interface OnlineRecognizerConfig {
    featConfig?: FeatureConfig;
    modelConfig: OnlineModelConfig;
    decodingMethod?: string;
    enableEndpoint?: boolean | number;
  }

  export class OnlineStream {
    acceptWaveform(w: Waveform): void;
    inputFinished(): void;
  }

  export class OnlineRecognizer {
    constructor(config: OnlineRecognizerConfig);
    createStream(): OnlineStream;
    isReady(stream: OnlineStream): boolean;
    decode(stream: OnlineStream): void;
    isEndpoint(stream: OnlineStream): boolean;
    reset(stream: OnlineStream): void;
    getResult(stream: OnlineStream): { text: string; tokens: string[] };
  }

  export interface OfflineTtsConfig {
    model: {
      vits?: {
        model: string;
        tokens: string;
        dataDir?: string;
        lexicon?: string;
        noiseScale?: number;
        noiseScaleW?: number;
        lengthScale?: number;
      };
      numThreads?: number;
      debug?: boolean | number;
      provider?: string;
    };
    maxNumSentences?: number;
    silenceScale?: number;
  }

  export interface GeneratedAudio {
    samples: Float32Array;
    sampleRate: number;
  }

  export interface TtsRequest {
    text: string;
    sid: number;
    speed: number;
    enableExternalBuffer?: boolean;
    /** Called with each sentence's samples as they are made; return 0/false to stop. */
    onProgress?: (info: { samples: Float32Array; progress: number }) => number | boolean | void;
  }

  export class OfflineTts {
    constructor(config: OfflineTtsConfig);
    static createAsync(config: OfflineTtsConfig): Promise<OfflineTts>;
    readonly sampleRate: number;
    readonly numSpeakers: number;
    generate(req: TtsRequest): GeneratedAudio;
    generateAsync(req: TtsRequest): Promise<GeneratedAudio>;
  }

  export function readWave(filename: string): Waveform;
  export function writeWave(filename: string, w: Waveform): void;
  export const version: string;
  export const onnxruntimeVersion: string;
}
