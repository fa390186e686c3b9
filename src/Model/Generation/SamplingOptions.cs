namespace PagedSim.Model.Generation;

/// <summary>How the next token is chosen from the logits.</summary>
/// <param name="Temperature">0 for greedy (argmax); above 0, sample from softmax(logits / temperature).</param>
/// <param name="TopP">Nucleus sampling: keep the most likely tokens whose probabilities sum to at least this.</param>
/// <param name="Seed">Seed of each request's random stream (request i uses its own stream, so results do not depend on batching).</param>
public sealed record SamplingOptions(double Temperature = 0, double TopP = 1.0, int Seed = 0)
{
    /// <summary>Greedy decoding.</summary>
    public static SamplingOptions Greedy { get; } = new();

    /// <summary>Whether this is greedy decoding.</summary>
    public bool IsGreedy => Temperature <= 0;

    /// <summary>Throws on out-of-range settings.</summary>
    public void Validate()
    {
        if (double.IsNaN(Temperature) || Temperature < 0) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be 0 (greedy) or positive.");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top-p must be in (0, 1].");
    }
}
