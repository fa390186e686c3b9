namespace PagedSim.Model.Tokenization;

/// <summary>Llama 3's 256 special tokens, named and ordered as in Meta's reference <c>tokenizer.py</c>; the i-th name
/// gets id <c>numBaseTokens + i</c> (128000 + i for Meta's file).</summary>
internal static class Llama3SpecialTokens
{
    /// <summary>How many special tokens follow the base vocabulary.</summary>
    public const int Count = 256;

    /// <summary>The names in id order.</summary>
    public static IReadOnlyList<string> Names { get; } = BuildNames();

    private static string[] BuildNames()
    {
        var names = new List<string>(Count)
        {
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|reserved_special_token_0|>",
            "<|reserved_special_token_1|>",
            "<|reserved_special_token_2|>",
            "<|reserved_special_token_3|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|reserved_special_token_4|>",
            "<|eot_id|>", // end of turn
        };
        for (int i = 5; i < Count - 5; i++) names.Add($"<|reserved_special_token_{i}|>");
        return names.ToArray();
    }
}
