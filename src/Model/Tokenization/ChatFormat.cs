namespace PagedSim.Model.Tokenization;

/// <summary>
/// Llama 3's chat format, as Meta's <c>ChatFormat.encode_dialog_prompt</c>: <c>&lt;|begin_of_text|&gt;</c>; per message
/// <c>&lt;|start_header_id|&gt;</c> role <c>&lt;|end_header_id|&gt;</c> "\n\n", the stripped content, <c>&lt;|eot_id|&gt;</c>;
/// then an assistant header for the model to complete.
/// </summary>
public sealed class ChatFormat
{
    private readonly Llama3Tokenizer _tokenizer;
    private readonly IReadOnlyList<int> _blankLine;

    /// <summary>Creates the format over a tokenizer.</summary>
    public ChatFormat(Llama3Tokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _blankLine = tokenizer.Encode("\n\n");
    }

    /// <summary>The tokens of a whole prompt, ending with the assistant header.</summary>
    public List<int> EncodeDialogPrompt(IReadOnlyList<ChatMessage> dialog)
    {
        ArgumentNullException.ThrowIfNull(dialog);
        var tokens = new List<int> { _tokenizer.BeginOfText };
        foreach (ChatMessage message in dialog)
        {
            AppendHeader(tokens, message.Role);
            tokens.AddRange(_tokenizer.Encode(StripPython(message.Content)));
            tokens.Add(_tokenizer.EotId);
        }
        AppendHeader(tokens, "assistant");
        return tokens;
    }

    /// <summary>The tokens of a message header: <c>&lt;|start_header_id|&gt;</c> role <c>&lt;|end_header_id|&gt;</c> "\n\n".</summary>
    public List<int> EncodeHeader(string role)
    {
        var tokens = new List<int>();
        AppendHeader(tokens, role);
        return tokens;
    }

    private void AppendHeader(List<int> tokens, string role)
    {
        tokens.Add(_tokenizer.StartHeaderId);
        tokens.AddRange(_tokenizer.Encode(role));
        tokens.Add(_tokenizer.EndHeaderId);
        tokens.AddRange(_blankLine);
    }

    /// <summary>Python's <c>str.strip()</c>: trims what <c>str.isspace</c> calls white space (U+001C..U+001F too).</summary>
    internal static string StripPython(string text)
    {
        int start = 0, end = text.Length;
        while (start < end && MetaTextSplitter.IsPythonSpace(text[start])) start++;
        while (end > start && MetaTextSplitter.IsPythonSpace(text[end - 1])) end--;
        return start == 0 && end == text.Length ? text : text[start..end];
    }
}
