using System.Globalization;
using Microsoft.Playwright;
using PagedSim.Web.Planner;

namespace PagedSim.Web.Tests;

/// <summary>
/// End to end in a real browser: the published site, served on 127.0.0.1, driven in Debian's headless Chromium by
/// Playwright. Skips only where no Chromium is installed (<c>apt-get install chromium</c>; .ci/run installs it).
/// </summary>
public sealed class BrowserTests(PublishedSite site) : IClassFixture<PublishedSite>
{
    /// <summary>The browser: <c>PAGEDSIM_CHROMIUM</c>, else Debian's.</summary>
    private static readonly string s_chromium = Environment.GetEnvironmentVariable("PAGEDSIM_CHROMIUM") is { Length: > 0 } c ? c : "/usr/bin/chromium";

    private static readonly string s_results = Repository.Path("TestResults/web");

    [Fact]
    public async Task SeedSetupShowsNaive7AndPaged62AndABrokenConfigShowsOneLine()
    {
        Assert.SkipUnless(File.Exists(s_chromium), $"no Chromium at {s_chromium}: install Debian's (apt-get install chromium) or set PAGEDSIM_CHROMIUM");
        Directory.CreateDirectory(s_results);
        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = s_chromium,
            Headless = true,
            Args = ["--no-sandbox"], // CI runs as root, where Chromium's sandbox refuses to start
        });
        IPage page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var pageErrors = new List<string>();
        page.PageError += (_, e) => pageErrors.Add(e);
        page.SetDefaultTimeout(120_000); // the first load compiles nothing ahead: the runtime and assemblies arrive and start

        // The defaults: the 99-request trace and a 20-point sweep, timed by the page itself.
        await page.GotoAsync(site.Url);
        await WaitForState(page, "done");
        string defaultTiming = await Timing(page);

        // The same again, warm: the runtime has loaded and the interpreter has compiled what the first run met.
        await page.SelectOptionAsync("[data-testid=mode]", "continuous");
        await WaitForState(page, "done");
        await page.SelectOptionAsync("[data-testid=mode]", "static");
        await WaitForState(page, "done");
        Assert.Equal("103", await page.TextContentAsync("[data-testid=max-paged]"));
        string warmTiming = await Timing(page);

        // The seed's setup, chosen as a person would.
        await page.SelectOptionAsync("[data-testid=gpu]", "rtx4090");
        await page.SelectOptionAsync("[data-testid=model]", "llama3-8b");
        await page.CheckAsync("[data-testid=seed-compat]");
        await Assertions(page).ToHaveTextAsync("62", new LocatorAssertionsToHaveTextOptions { Timeout = 120_000 });
        await WaitForState(page, "done");
        Assert.Equal("7", await page.TextContentAsync("[data-testid=max-naive]"));
        Assert.Equal("62", await page.TextContentAsync("[data-testid=max-paged]"));
        Assert.Contains("seed_compat=1", page.Url);
        string seedTiming = await Timing(page);

        // The seed's own run: 49 requests (the max batches stay, the timeline fills).
        await page.FillAsync("[data-testid=requests]", "49");
        await page.Locator("[data-testid=requests]").BlurAsync();
        await Microsoft.Playwright.Assertions.Expect(page.Locator("[data-testid=report-title]"))
            .ToHaveTextAsync("Static batch of 49 request(s) from sharegpt-llama3.trace.json", new LocatorAssertionsToHaveTextOptions { Timeout = 120_000 });
        await WaitForState(page, "done");
        Assert.Equal("7", await page.TextContentAsync("[data-testid=max-naive]"));
        Assert.Equal("62", await page.TextContentAsync("[data-testid=max-paged]"));
        Assert.Equal(2, await page.Locator(".chart .js-plotly-plot").CountAsync());
        Assert.True(await page.Locator("[data-testid=timeline-chart] .scatterlayer .trace").CountAsync() >= 4, "the timeline draws both caches");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(s_results, "planner.png"), FullPage = true });

        // The link reproduces the result in a fresh page, here as a phone shows it.
        IPage phone = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 390, Height = 844 }, DeviceScaleFactor = 2 });
        phone.SetDefaultTimeout(120_000);
        await phone.GotoAsync(page.Url);
        await WaitForState(phone, "done");
        Assert.Equal("62", await phone.TextContentAsync("[data-testid=max-paged]"));
        Assert.Equal("7", await phone.TextContentAsync("[data-testid=max-naive]"));
        await phone.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(s_results, "planner-phone.png") });

        // A broken config: one clear line, not a blank page.
        await page.SelectOptionAsync("[data-testid=model]", PlannerInputs.PastedModel);
        await page.FillAsync("[data-testid=model-config]", "{ \"hidden_size\": 4096, \"num_hidden_layers\": 32,");
        await page.Locator("[data-testid=model-config]").BlurAsync();
        await WaitForState(page, "error");
        string error = (await page.TextContentAsync("[data-testid=error]"))!.Trim();
        Assert.StartsWith("model config: malformed JSON", error);
        Assert.DoesNotContain('\n', error);
        Assert.True(await page.IsVisibleAsync("[data-testid=gpu]"), "the inputs stay on the page");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(s_results, "planner-error.png") });

        Assert.Empty(pageErrors);
        string timings = $"defaults (99 requests + 20-point sweep), first run after loading: {defaultTiming}\ndefaults again, warm: {warmTiming}\nseed-compatible: {seedTiming}\npublish: {site.PublishSeconds:0.0} s (0 = reused)\n";
        await File.WriteAllTextAsync(Path.Combine(s_results, "timings.txt"), timings, TestContext.Current.CancellationToken);
        TestContext.Current.SendDiagnosticMessage(timings);
        TestContext.Current.TestOutputHelper?.WriteLine(timings);
    }

    private static ILocatorAssertions Assertions(IPage page) =>
        Microsoft.Playwright.Assertions.Expect(page.Locator("[data-testid=max-paged]"));

    private static Task WaitForState(IPage page, string state) =>
        page.WaitForSelectorAsync($"[data-testid=results][data-state={state}]");

    private static async Task<string> Timing(IPage page)
    {
        string report = (await page.TextContentAsync("[data-testid=elapsed-report]"))!;
        string total = (await page.TextContentAsync("[data-testid=elapsed-total]"))!;
        string simulating = (await page.TextContentAsync("[data-testid=elapsed-simulation]"))!;
        Assert.InRange(double.Parse(simulating, CultureInfo.InvariantCulture), 0, double.Parse(total, CultureInfo.InvariantCulture));
        return $"report {report} ms, with the sweep {total} ms, of which simulating {simulating} ms";
    }
}
