using System.Buffers.Binary;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace PagedSim.Golden.Tests.Untrusted;

/// <summary>The ways a downloaded file is damaged or forged: cut short, bytes flipped, absurd integers, bad UTF-8, digits.</summary>
public enum CorruptionKind
{
    Truncate,
    SetByte,
    Absurd64,
    Absurd32,
    BadUtf8,
    DeleteBytes,
    AsciiNumber,
}

/// <summary>One corruption of a valid file at <paramref name="Position"/>.</summary>
public sealed record Corruption(CorruptionKind Kind, int Position, ulong Value)
{
    private static readonly ulong[] s_absurd =
    [
        0, 1, 0xFFFF_FFFF, 0x8000_0000, 0x7FFF_FFFF, ulong.MaxValue, long.MaxValue, 1UL << 62, 1UL << 40, 1UL << 32,
        unchecked((ulong)-1L), unchecked((ulong)-2L), 3, 31, 33, 4096,
    ];

    private static readonly string[] s_numbers = ["-1", "9223372036854775807", "99999999999999999999", "4294967296", "1e30", "0", "65536"];

    public byte[] Apply(byte[] valid)
    {
        int p = Math.Min(Position, valid.Length - 1);
        byte[] b = (byte[])valid.Clone();
        switch (Kind)
        {
            case CorruptionKind.Truncate:
                return valid[..p];
            case CorruptionKind.SetByte:
                b[p] = (byte)(Value == b[p] ? Value + 1 : Value);
                return b;
            case CorruptionKind.Absurd64:
                if (p + 8 <= b.Length) BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(p), s_absurd[Value % (ulong)s_absurd.Length]);
                return b;
            case CorruptionKind.Absurd32:
                if (p + 4 <= b.Length) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(p), (uint)s_absurd[Value % (ulong)s_absurd.Length]);
                return b;
            case CorruptionKind.BadUtf8:
                b[p] = 0xFF;
                if (p + 1 < b.Length) b[p + 1] = 0xC0;
                return b;
            case CorruptionKind.DeleteBytes:
                int n = (int)(Value % 64) + 1;
                return [.. valid[..p], .. valid[Math.Min(valid.Length, p + n)..]];
            default:
                byte[] digits = Encoding.ASCII.GetBytes(s_numbers[Value % (ulong)s_numbers.Length]);
                for (int i = 0; i < digits.Length && p + i < b.Length; i++) b[p + i] = digits[i];
                return b;
        }
    }

    /// <summary>
    /// Corruptions of a file of <paramref name="length"/> bytes, mostly at <paramref name="fields"/> (offsets of the
    /// structure's counts, lengths, dimensions and offsets) and in its first <paramref name="hot"/> bytes (the header),
    /// sometimes anywhere.
    /// </summary>
    public static Arbitrary<Corruption> Of(int length, int hot, IReadOnlyList<int> fields, int tail = 0)
    {
        Gen<int> position = Gen.Frequency(
            (4, Gen.Elements(fields.Count > 0 ? fields.ToArray() : [0])),
            (4, Gen.Choose(0, Math.Max(0, hot - 1))),
            (tail > 0 ? 2 : 0, Gen.Choose(Math.Max(0, length - tail), length - 1)),
            (1, Gen.Choose(0, length - 1)));
        Gen<Corruption> gen =
            from kind in Gen.Elements(Enum.GetValues<CorruptionKind>())
            from p in position
            from v in Gen.Choose(0, int.MaxValue)
            select new Corruption(kind, p, (ulong)v);
        return Arb.From(gen);
    }
}
