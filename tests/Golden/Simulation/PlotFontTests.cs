using PagedSim.Runner.Output;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>Plots carry their own font, so a machine without installed fonts still gets titles and labels.</summary>
public class PlotFontTests
{
    [Fact]
    public void The_bundled_font_is_beside_the_program_and_registered()
    {
        Assert.True(File.Exists(PlotFont.FilePath), $"{PlotFont.FilePath} is missing");
        Assert.True(PlotFont.Registered);
        var plot = new ScottPlot.Plot();
        plot.Title("KV cache");
        PlotFont.Apply(plot);
        Assert.Equal(PlotFont.Name, plot.Axes.Title.Label.FontName);
    }
}
