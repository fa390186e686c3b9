using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using PagedSim.Allocator.Simulation;
using PagedSim.Web.Pages;
using PagedSim.Web.Planner;

namespace PagedSim.Web.Tests;

/// <summary>The page rendered by bUnit: the simulator's figures, the URL state and bad input. Plotly's JavaScript
/// does not run here (loose JS interop); the browser test covers the charts.</summary>
public sealed class HomeTests : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);
    private readonly BunitContext _context = new();

    public HomeTests() => _context.JSInterop.Mode = JSRuntimeMode.Loose;

    public void Dispose() => _context.Dispose();

    private IRenderedComponent<Home> Render(string query = "")
    {
        _context.Services.GetRequiredService<NavigationManager>().NavigateTo("/" + query);
        return _context.Render<Home>();
    }

    private static void WaitFor(IRenderedComponent<Home> page, string state) =>
        page.WaitForAssertion(() => Assert.Equal(state, page.Find("[data-testid=results]").GetAttribute("data-state")), s_timeout);

    private static SimulationReport CliReport(bool seedCompatible)
    {
        // What `simulate --gpu rtx4090 [--seed-compat]` builds, from the committed trace file itself.
        Trace trace = TraceFile.Read(Repository.Path("fixtures/sharegpt-llama3.trace.json"), 8192);
        var config = new SimulationConfig(new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.Rtx4090, "bf16", 1, OverheadModel.Default), SeedCompatible: seedCompatible);
        return SimulationReport.Create(config, trace, trace.Requests, keepTimeline: true);
    }

    [Fact]
    public void DefaultsShowSimulatesTable()
    {
        IRenderedComponent<Home> page = Render();
        WaitFor(page, "done");
        SimulationReport expected = CliReport(seedCompatible: false);
        var rows = page.FindAll("[data-testid=report-table] tbody tr")
            .Select(tr => tr.Children.Select(c => c.TextContent).ToArray()).ToArray();
        Assert.Equal(ReportTable.Rows(expected).Select(r => new[] { r.Label, r.Paged, r.Naive }), rows);
        Assert.Equal("103", page.Find("[data-testid=max-paged]").TextContent);
        Assert.Equal("7", page.Find("[data-testid=max-naive]").TextContent);
        Assert.Equal(ReportTable.Title(expected), page.Find("[data-testid=report-title]").TextContent);
        Assert.Contains("20-point sweep", page.Find("[data-testid=elapsed]").TextContent);
    }

    [Fact]
    public void SeedCompatibleLinkShowsTheSeedsFigures()
    {
        IRenderedComponent<Home> page = Render("?seed_compat=1");
        WaitFor(page, "done");
        Assert.Equal("62", page.Find("[data-testid=max-paged]").TextContent);
        Assert.Equal("7", page.Find("[data-testid=max-naive]").TextContent);
        Assert.Contains("the seed's block pool", page.Find("[data-testid=card-paged]").TextContent);
        SimulationReport expected = CliReport(seedCompatible: true);
        Assert.Equal(ReportTable.Rows(expected).Select(r => r.Paged), page.FindAll("[data-testid=report-table] tbody tr td:nth-child(2)").Select(td => td.TextContent));
    }

    [Fact]
    public void SevenRequestsGiveTheSeedsNaiveFragmentation()
    {
        IRenderedComponent<Home> page = Render("?requests=7&seed_compat=1");
        WaitFor(page, "done");
        // The seed printed 7.23 GB (28.46%) with Llama 3's own answers; ShareGPT's recorded answers give 29.06%.
        Assert.Equal("7.38 GB (29.06%)", page.Find("[data-testid=seed-frag-naive]").TextContent);
    }

    [Fact]
    public void ChangingAnInputRewritesTheLinkAndTheFigures()
    {
        IRenderedComponent<Home> page = Render();
        WaitFor(page, "done");
        page.Find("[data-testid=seed-compat]").Change(true);
        page.WaitForAssertion(() => Assert.Equal("62", page.Find("[data-testid=max-paged]").TextContent), s_timeout);
        Assert.EndsWith("/?seed_compat=1", _context.Services.GetRequiredService<NavigationManager>().Uri);
    }

    [Fact]
    public void BrokenPastedConfigShowsOneErrorLine()
    {
        IRenderedComponent<Home> page = Render();
        WaitFor(page, "done");
        page.Find("[data-testid=model]").Change(PlannerInputs.PastedModel);
        WaitFor(page, "error");
        page.Find("[data-testid=model-config]").Change("{ \"hidden_size\": 4096, \"num_hidden_layers\": ");
        WaitFor(page, "error");
        string error = page.Find("[data-testid=error]").TextContent;
        Assert.StartsWith("model config: malformed JSON", error);
        Assert.Empty(page.FindAll("[data-testid=report-table]"));
    }

    [Fact]
    public void PastedHuggingFaceConfigMatchesThePreset()
    {
        const string config = """
            { "architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
              "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": false, "rope_theta": 500000.0 }
            """;
        IRenderedComponent<Home> page = Render("?model=pasted&config=" + Uri.EscapeDataString(Base64Url(config)));
        WaitFor(page, "done");
        Assert.Equal("7", page.Find("[data-testid=max-naive]").TextContent);
        Assert.Equal("103", page.Find("[data-testid=max-paged]").TextContent);
        Assert.Contains("8.03B parameters", page.Find(".setup").TextContent);
    }

    [Fact]
    public void AbsurdMemoryIsOneLine()
    {
        IRenderedComponent<Home> page = Render("?gpu=custom&mem=24XB");
        WaitFor(page, "error");
        Assert.StartsWith("GPU memory: \"24XB\" is not a size", page.Find("[data-testid=error]").TextContent);
    }

    private static string Base64Url(string text) =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
