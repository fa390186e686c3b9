namespace PagedSim.Model.Generation;

/// <summary>How prompts enter the cache.</summary>
public enum PrefillMode
{
    /// <summary>Each prompt in one forward pass (prompts of equal length share a pass), then one token per step.</summary>
    Whole,

    /// <summary>
    /// The seed's way (llama3-naive.py / llama3-paged.py): all prompts' first min-length tokens in one pass, then one
    /// position per step for every request, feeding prompt tokens while a request is still inside its prompt.
    /// </summary>
    TokenByToken,

    /// <summary>
    /// Prompts of every length share passes of up to <see cref="GenerationOptions.MaxPrefillTokens"/> tokens: the
    /// matmuls run once over all of them (the weights read once a pass instead of once a prompt length), attention once
    /// a length (<see cref="Llama3.ForwardRagged"/>). Falls back to <see cref="Whole"/> for a tensor-parallel model.
    /// </summary>
    Ragged,
}
