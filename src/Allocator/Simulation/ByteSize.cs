using System.Globalization;

namespace PagedSim.Allocator.Simulation;

/// <summary>Parses and prints memory sizes: plain bytes, decimal units (KB, MB, GB, TB) and binary ones (KiB … TiB).</summary>
public static class ByteSize
{
    private static readonly (string Suffix, long Factor)[] s_units =
    [
        ("KIB", 1L << 10), ("MIB", 1L << 20), ("GIB", 1L << 30), ("TIB", 1L << 40),
        ("KB", 1_000L), ("MB", 1_000_000L), ("GB", 1_000_000_000L), ("TB", 1_000_000_000_000L),
        ("B", 1L),
    ];

    /// <summary>Parses "24GiB", "80GB", "81559MiB", "1.5 TB" or "25393692672" (units case-insensitive).</summary>
    /// <exception cref="FormatException">Not a positive size; the message says what is accepted.</exception>
    public static long Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string s = text.Trim().ToUpperInvariant();
        long factor = 1;
        foreach ((string suffix, long f) in s_units)
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal))
            {
                s = s[..^suffix.Length].TrimEnd();
                factor = f;
                break;
            }
        }
        if (s.Length == 0 || !decimal.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal number))
            throw new FormatException($"\"{text}\" is not a size; use bytes or a number with KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. 24GiB, 80GB, 81559MiB)");
        decimal bytes = decimal.Floor(number * factor);
        if (bytes <= 0) throw new FormatException($"\"{text}\" must be a positive size");
        if (bytes > long.MaxValue) throw new FormatException($"\"{text}\" is too large");
        return (long)bytes;
    }

    /// <summary>Decimal gigabytes with two decimals, as the seed prints them ("7.23 GB").</summary>
    public static string Gb(long bytes) => (bytes / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " GB";
}
