using PagedSim.Model.Synthetic;
using PagedSim.Model.Tokenization;
using PagedSim.Runner;
using static TorchSharp.torch;

namespace PagedSim.Gpu.Tests;

/// <summary>
/// One set of synthetic Llama-3-8B weights (seed 7, bf16, created on the GPU) and the first 8 ShareGPT prompts, shared
/// by the runner's GPU tests (creating 16 GB of weights once). Null members where there is no CUDA.
/// </summary>
public sealed class RunnerSessionFixture : IDisposable
{
    public const int Requests = 8, NewTokens = 64;

    internal RunSession? Session { get; }

    internal RunRequests? Prompts { get; }

    public RunnerSessionFixture()
    {
        if (CudaDevice.Missing is not null) return;
        // Another test of the collection may have run out of memory on purpose: let its leftovers go first.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Session = RunSession.Open(CUDA, SyntheticShapes.Llama3_8B, seed: 7, modelDir: null, attention: "reference", blockSize: 256, naive: false);
        Prompts = RunRequests.Load(Fixtures.Path("sharegpt-filtered.json"), Llama3Tokenizer.Load(Fixtures.Path("llama3/tokenizer.model")), Requests);
    }

    public void Dispose() => Session?.Dispose();
}
