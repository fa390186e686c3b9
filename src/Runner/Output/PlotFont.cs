using ScottPlot;

namespace PagedSim.Runner.Output;

/// <summary>
/// Draws every plot's text with the bundled DejaVu Sans (fonts/DejaVuSans.ttf beside the program): ScottPlot otherwise
/// takes a system font, and a machine without any (a GPU server, a container) gets plots without a single label.
/// </summary>
internal static class PlotFont
{
    /// <summary>The name the bundled font is registered under.</summary>
    public const string Name = "DejaVu Sans (PagedSim)";

    private static readonly Lazy<bool> s_registered = new(Register);

    /// <summary>Where the font file is expected.</summary>
    public static string FilePath => Path.Combine(AppContext.BaseDirectory, "fonts", "DejaVuSans.ttf");

    /// <summary>Whether the bundled font is in use (false only when its file is missing: then the system's fonts are used).</summary>
    public static bool Registered => s_registered.Value;

    /// <summary>Sets every text element of <paramref name="plot"/> (title, labels, ticks, legend) to the bundled font.</summary>
    public static void Apply(Plot plot)
    {
        if (Registered) plot.Font.Set(Name);
    }

    private static bool Register()
    {
        if (!File.Exists(FilePath)) return false;
        Fonts.AddFontFile(Name, FilePath);
        return true;
    }
}
