namespace PagedSim.Model.Tokenization;

/// <summary>
/// GPT-2's reversible byte → character map (<c>bytes_to_unicode</c>), which byte-level BPE vocabularies (Hugging Face
/// tokenizer.json, GGUF's <c>gpt2</c> model) use to spell tokens as text: printable Latin-1 bytes stand for
/// themselves, the other 68 bytes for U+0100 onwards in byte order.
/// </summary>
public static class Gpt2Bytes
{
    private static readonly char[] s_byteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> s_charToByte =
        Enumerable.Range(0, 256).ToDictionary(b => s_byteToChar[b], b => (byte)b);

    /// <summary>The characters spelling <paramref name="bytes"/>.</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = s_byteToChar[bytes[i]];
        return new string(chars);
    }

    /// <summary>The bytes a token spells, or null if it has a character outside the map.</summary>
    public static byte[]? Decode(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            if (!s_charToByte.TryGetValue(token[i], out bytes[i])) return null;
        }
        return bytes;
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }
}
