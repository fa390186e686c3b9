using System.Text;

namespace PagedSim.Model.Tokenization;

/// <summary>
/// Writes a SentencePiece <c>ModelProto</c> (sentencepiece_model.proto) in protobuf's wire format, for
/// Microsoft.ML.Tokenizers' <c>SentencePieceTokenizer</c> to read: the pieces with their scores and types, a BPE
/// trainer spec (byte fallback, unk/bos/eos ids) and a normalizer spec without a precompiled charsmap (identity
/// normalization, dummy-prefix and whitespace escaping as Llama 2's tokenizer has them).
/// </summary>
internal static class SentencePieceModelProto
{
    /// <summary>SentencePiece piece types (the same numbers GGUF's <c>tokenizer.ggml.token_type</c> uses).</summary>
    public const int Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6;

    /// <summary>The serialized model.</summary>
    public static byte[] Write(IReadOnlyList<string> pieces, IReadOnlyList<float> scores, IReadOnlyList<int> types,
        int unkId, int bosId, int eosId, bool byteFallback, bool addDummyPrefix)
    {
        var model = new MemoryStream();
        for (int i = 0; i < pieces.Count; i++)
        {
            var piece = new MemoryStream();
            WriteString(piece, 1, pieces[i]);
            WriteTag(piece, 2, 5);
            piece.Write(BitConverter.GetBytes(scores[i]));
            WriteVarintField(piece, 3, (ulong)types[i]);
            WriteBytes(model, 1, piece.ToArray());
        }

        var trainer = new MemoryStream();
        WriteVarintField(trainer, 3, 2); // model_type = BPE
        WriteVarintField(trainer, 4, (ulong)pieces.Count); // vocab_size
        WriteVarintField(trainer, 35, byteFallback ? 1UL : 0UL);
        WriteVarintField(trainer, 40, (ulong)(long)unkId);
        WriteVarintField(trainer, 41, (ulong)(long)bosId);
        WriteVarintField(trainer, 42, (ulong)(long)eosId);
        WriteVarintField(trainer, 43, unchecked((ulong)-1L)); // pad_id = -1 (none)
        if ((uint)unkId < pieces.Count) WriteString(trainer, 45, pieces[unkId]);
        if ((uint)bosId < pieces.Count) WriteString(trainer, 46, pieces[bosId]);
        if ((uint)eosId < pieces.Count) WriteString(trainer, 47, pieces[eosId]);
        WriteBytes(model, 2, trainer.ToArray());

        var normalizer = new MemoryStream();
        WriteString(normalizer, 1, "identity");
        WriteVarintField(normalizer, 3, addDummyPrefix ? 1UL : 0UL); // add_dummy_prefix
        WriteVarintField(normalizer, 4, 0); // remove_extra_whitespaces: Llama's tokenizer keeps them
        WriteVarintField(normalizer, 5, 1); // escape_whitespaces: ' ' → '▁'
        WriteBytes(model, 3, normalizer.ToArray());
        return model.ToArray();
    }

    private static void WriteTag(Stream s, int field, int wireType) => WriteVarint(s, (ulong)((field << 3) | wireType));

    private static void WriteVarintField(Stream s, int field, ulong value)
    {
        WriteTag(s, field, 0);
        WriteVarint(s, value);
    }

    private static void WriteString(Stream s, int field, string value) => WriteBytes(s, field, Encoding.UTF8.GetBytes(value));

    private static void WriteBytes(Stream s, int field, byte[] value)
    {
        WriteTag(s, field, 2);
        WriteVarint(s, (ulong)value.Length);
        s.Write(value);
    }

    private static void WriteVarint(Stream s, ulong value)
    {
        while (value >= 0x80)
        {
            s.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        s.WriteByte((byte)value);
    }
}
