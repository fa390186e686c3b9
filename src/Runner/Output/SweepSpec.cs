using System.Globalization;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Runner.Output;

/// <summary>
/// <c>simulate --sweep</c>: <c>gpu-mem=FROM:TO[:STEP]</c> (FROM, FROM + STEP, … and TO; STEP defaults to FROM),
/// <c>gpu-mem=SIZE,SIZE,…</c> (memory sizes of the <c>--gpu</c> chip), or <c>gpu=NAME,NAME,…</c> / <c>gpu=all</c>
/// (presets).
/// </summary>
internal static class SweepSpec
{
    /// <summary>Most points one sweep takes.</summary>
    public const int MaxPoints = 200;

    private const string Usage = "use gpu-mem=FROM:TO[:STEP], gpu-mem=SIZE,SIZE,… or gpu=NAME,NAME,… (or gpu=all)";

    /// <summary>The GPUs <paramref name="text"/> names; memory sweeps take <paramref name="chip"/>'s chip (its time
    /// figures), or a size alone when it is null. Bad syntax is one <see cref="UserError"/> line.</summary>
    public static IReadOnlyList<GpuSpec> Parse(string text, GpuSpec? chip)
    {
        int eq = text.IndexOf('=');
        string key = eq < 0 ? text : text[..eq].Trim().ToLowerInvariant(), value = eq < 0 ? "" : text[(eq + 1)..].Trim();
        if (eq < 0 || value.Length == 0) throw new UserError($"--sweep: \"{text}\" is not a sweep; {Usage}");
        return key switch
        {
            "gpu-mem" => Memory(value, chip),
            "gpu" => Presets(value),
            _ => throw new UserError($"--sweep: unknown sweep \"{key}\"; {Usage}"),
        };
    }

    private static IReadOnlyList<GpuSpec> Memory(string value, GpuSpec? chip)
    {
        var sizes = new List<(long Bytes, string Label)>();
        if (value.Contains(':'))
        {
            string[] parts = value.Split(':');
            if (parts.Length is not (2 or 3)) throw new UserError($"--sweep: gpu-mem={value}: give FROM:TO or FROM:TO:STEP");
            long from = Size(parts[0]), to = Size(parts[1]), step = parts.Length == 3 ? Size(parts[2]) : from;
            if (to < from) throw new UserError($"--sweep: gpu-mem={value}: {parts[1]} is below {parts[0]}");
            if ((to - from) / step + 2 > MaxPoints) throw new UserError($"--sweep: gpu-mem={value} makes more than {MaxPoints} points; use a larger step");
            for (long b = from; b < to; b += step) sizes.Add((b, Label(b, parts[0])));
            sizes.Add((to, Label(to, parts[1])));
        }
        else
        {
            foreach (string part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                sizes.Add((Size(part), part));
            if (sizes.Count > MaxPoints) throw new UserError($"--sweep: more than {MaxPoints} sizes");
        }
        return [.. sizes.Select(s => SetupOptions.WithMemory(chip, s.Bytes, s.Label))];
    }

    private static IReadOnlyList<GpuSpec> Presets(string value)
    {
        if (value.Equals("all", StringComparison.OrdinalIgnoreCase)) return GpuSpec.Presets;
        var gpus = new List<GpuSpec>();
        foreach (string name in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            gpus.Add(GpuSpec.FindPreset(name)
                ?? throw new UserError($"--sweep: unknown GPU \"{name}\"; known: {string.Join(", ", GpuSpec.Presets.Select(g => g.Name))}"));
        if (gpus.Count == 0) throw new UserError($"--sweep: gpu= names no GPU; {Usage}");
        return gpus;
    }

    private static long Size(string text)
    {
        try
        {
            long bytes = ByteSize.Parse(text.Trim());
            return bytes > 0 ? bytes : throw new FormatException($"\"{text}\" is not a positive size");
        }
        catch (FormatException e)
        {
            throw new UserError($"--sweep: {e.Message}");
        }
    }

    /// <summary>A point's label in the unit its end was written in (e.g. 48GB for 16GB:192GB).</summary>
    private static string Label(long bytes, string like)
    {
        string unit = new(like.Trim().SkipWhile(c => char.IsDigit(c) || c == '.').ToArray());
        if (unit.Length == 0) return bytes.ToString(CultureInfo.InvariantCulture);
        long perUnit = ByteSize.Parse("1" + unit);
        return (bytes / (double)perUnit).ToString("0.##", CultureInfo.InvariantCulture) + unit;
    }
}
