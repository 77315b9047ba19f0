/** The LLM endpoint comes from the environment (Nomad fills it in), with every problem named at once. */
import { llmClientOptionsFromEnv } from "../../src/services/llm";

describe("LLM settings from the environment", () => {
  it("reads the URL, backend, slot, model and key", () => {
    expect(
      llmClientOptionsFromEnv({ LLM_URL: "http://10.0.0.5:8080", LLM_BACKEND: "primacpp", LLM_SLOT: "1", LLM_MODEL: "qwen", LLM_API_KEY: "k" }),
    ).toEqual({ baseUrl: "http://10.0.0.5:8080", backend: "primacpp", slotId: 1, model: "qwen", apiKey: "k" });
    expect(llmClientOptionsFromEnv({})).toEqual({ baseUrl: "http://127.0.0.1:8080", backend: "llamacpp", slotId: undefined, model: undefined, apiKey: undefined });
  });

  it("names every bad value and its fix in one error, never echoing the key", () => {
    expect(() => llmClientOptionsFromEnv({ LLM_URL: "ftp://10.0.0.5:8080", LLM_BACKEND: "ollama", LLM_SLOT: "-1", LLM_API_KEY: "secret-key" })).toThrow(
      'LLM settings: LLM_URL="ftp://10.0.0.5:8080" must start with http:// or https://; LLM_BACKEND="ollama" — use llamacpp or primacpp; ' +
        'LLM_SLOT="-1" — use a slot number 0..(llama-server -np)-1, or unset it',
    );
    expect(() => llmClientOptionsFromEnv({ LLM_URL: "not a url" })).toThrow('LLM_URL="not a url" is not a URL — set it like LLM_URL=http://10.0.0.5:8080');
  });
});
