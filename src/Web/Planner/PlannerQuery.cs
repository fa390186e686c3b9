using System.Text;

namespace PagedSim.Web.Planner;

/// <summary>
/// The page's state in its URL, so a result can be shared as a link: one query key per input, written only when it
/// differs from the default. A pasted model config travels base64url-encoded; an uploaded trace does not travel.
/// </summary>
public static class PlannerQuery
{
    private static readonly PlannerInputs s_defaults = new();

    private static readonly (string Key, Func<PlannerInputs, string> Get, Func<PlannerInputs, string, PlannerInputs> Set)[] s_fields =
    [
        ("gpu", i => i.Gpu, (i, v) => i with { Gpu = v }),
        ("mem", i => i.GpuMemory, (i, v) => i with { GpuMemory = v }),
        ("model", i => i.Model, (i, v) => i with { Model = v }),
        ("config", i => Encode(i.ModelConfig), (i, v) => i with { ModelConfig = Decode(v) }),
        ("dtype", i => i.DType, (i, v) => i with { DType = v }),
        ("tp", i => i.TensorParallel, (i, v) => i with { TensorParallel = v }),
        ("overhead", i => i.Overhead, (i, v) => i with { Overhead = v }),
        ("trace", i => i.Trace.ToString().ToLowerInvariant(), (i, v) => Enum.TryParse(v, true, out TraceChoice t) ? i with { Trace = t } : i),
        ("requests", i => i.Requests, (i, v) => i with { Requests = v }),
        ("synthetic", i => i.SyntheticCount, (i, v) => i with { SyntheticCount = v }),
        ("seed", i => i.Seed, (i, v) => i with { Seed = v }),
        ("block", i => i.BlockSize, (i, v) => i with { BlockSize = v }),
        ("mode", i => i.Mode, (i, v) => i with { Mode = v }),
        ("seed_compat", i => i.SeedCompatible ? "1" : "0", (i, v) => i with { SeedCompatible = v is "1" or "true" }),
        ("sweep_from", i => i.SweepFrom, (i, v) => i with { SweepFrom = v }),
        ("sweep_to", i => i.SweepTo, (i, v) => i with { SweepTo = v }),
        ("sweep_points", i => i.SweepPoints, (i, v) => i with { SweepPoints = v }),
    ];

    /// <summary>The query string (without "?") for <paramref name="inputs"/>; empty for the defaults.</summary>
    public static string Format(PlannerInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var parts = new List<string>();
        foreach ((string key, Func<PlannerInputs, string> get, _) in s_fields)
        {
            string value = get(inputs);
            if (value != get(s_defaults)) parts.Add($"{key}={Uri.EscapeDataString(value)}");
        }
        return string.Join("&", parts);
    }

    /// <summary>Inputs from a query string (with or without "?"); unknown keys are ignored, missing ones default.</summary>
    public static PlannerInputs Parse(string? query)
    {
        PlannerInputs inputs = s_defaults;
        if (string.IsNullOrEmpty(query)) return inputs;
        foreach (string part in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            string key = eq < 0 ? part : part[..eq];
            string value = eq < 0 ? "" : Uri.UnescapeDataString(part[(eq + 1)..].Replace('+', ' '));
            foreach ((string k, _, Func<PlannerInputs, string, PlannerInputs> set) in s_fields)
                if (k == key) inputs = set(inputs, value);
        }
        return inputs;
    }

    private static string Encode(string text) => text.Length == 0 ? ""
        : Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Base64url back to text; a mangled link gives text that fails as a config, with its own error line.</summary>
    private static string Decode(string value)
    {
        string b64 = value.Replace('-', '+').Replace('_', '/');
        b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(b64));
        }
        catch (FormatException)
        {
            return value;
        }
    }
}
