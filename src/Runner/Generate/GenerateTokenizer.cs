using System.Text.Json;
using PagedSim.Model.Checkpoints;
using PagedSim.Model.Tokenization;

namespace PagedSim.Runner;

/// <summary>
/// The tokenizer <c>generate</c> uses for text prompts and output: a GGUF file's own (<see cref="GgufTokenizer"/>), or a
/// checkpoint directory's Llama 3 <c>tokenizer.model</c>. Llama 3 vocabularies chat-format the prompt; the others
/// (SentencePiece <c>llama</c> ones, as llama2.c's story models) take it as plain text after BOS, so an empty prompt
/// is BOS alone, as llama2.c's <c>run.c</c> starts.
/// </summary>
internal sealed class GenerateTokenizer
{
    private readonly Llama3Tokenizer? _llama3;
    private readonly GgufTokenizer? _gguf;

    private GenerateTokenizer(Llama3Tokenizer? llama3, GgufTokenizer? gguf)
    {
        _llama3 = llama3 ?? gguf?.Llama3;
        _gguf = gguf;
    }

    /// <summary>Ids that end generation by default.</summary>
    public IReadOnlySet<int> StopTokens => _llama3?.StopTokens ?? _gguf!.StopTokens;

    /// <summary>True when the output is printed as plain text (a story), not as a JSON string per prompt.</summary>
    public bool PlainText => _llama3 is null;

    /// <summary>The tokenizer of <paramref name="model"/>, or null when it has none (and none is required).</summary>
    public static GenerateTokenizer? Load(string model, bool required)
    {
        try
        {
            if (Checkpoint.IsGguf(model))
            {
                try
                {
                    return new GenerateTokenizer(null, GgufTokenizer.Load(model));
                }
                catch (TokenizerLoadException) when (!required)
                {
                    return null;
                }
            }
            string path = Path.Combine(model, "tokenizer.model");
            if (!File.Exists(path))
            {
                if (required) throw new UserError($"--prompt: {path} not found (use --prompt-ids for a model without a tokenizer)");
                return null;
            }
            return new GenerateTokenizer(Llama3Tokenizer.Load(path), null);
        }
        catch (TokenizerLoadException e)
        {
            throw new UserError(e.Message, Cli.BadInput, e);
        }
        catch (CheckpointException e)
        {
            throw new UserError(e.Message, Cli.BadInput, e);
        }
    }

    /// <summary>A user's prompt → ids: Llama 3's chat format, or BOS + the plain text.</summary>
    public int[] EncodePrompt(string text) =>
        _llama3 is not null
            ? new ChatFormat(_llama3).EncodeDialogPrompt([new ChatMessage("user", text)]).ToArray()
            : _gguf!.EncodePrompt(text);

    /// <summary>
    /// The text to print for one result: Llama 3, the generated ids as a JSON string; plain text, the prompt after
    /// BOS and the generated ids, as <c>run.c</c> prints them.
    /// </summary>
    public string Render(int[] prompt, IReadOnlyList<int> generated) =>
        _llama3 is not null ? JsonSerializer.Serialize(_llama3.Decode(generated)) : Text(prompt, generated);

    /// <summary>The decoded text (no JSON quoting).</summary>
    public string Text(int[] prompt, IReadOnlyList<int> generated)
    {
        if (_llama3 is not null) return _llama3.Decode(generated);
        int skip = prompt.Length > 0 && prompt[0] == _gguf!.BeginOfSequence ? 1 : 0;
        return _gguf!.Decode([.. prompt.Skip(skip), .. generated]);
    }
}
