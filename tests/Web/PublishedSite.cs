using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;

namespace PagedSim.Web.Tests;

/// <summary>
/// The planner as users get it: <c>dotnet publish src/Web -c Release</c> (made here when missing or older than its
/// sources, into artifacts/web-e2e; or the folder named by <c>PAGEDSIM_WEB_SITE</c>), served by a static-file Kestrel
/// on 127.0.0.1 at a free port.
/// </summary>
public sealed class PublishedSite : IAsyncLifetime
{
    /// <summary>Names a published wwwroot folder to use instead of publishing.</summary>
    public const string SiteVariable = "PAGEDSIM_WEB_SITE";

    private WebApplication? _server;

    /// <summary>The site's address, ending in "/".</summary>
    public string Url { get; private set; } = "";

    /// <summary>The folder served.</summary>
    public string Root { get; private set; } = "";

    /// <summary>Seconds the publish took (0 when an up-to-date one was reused).</summary>
    public double PublishSeconds { get; private set; }

    public async ValueTask InitializeAsync()
    {
        Root = Environment.GetEnvironmentVariable(SiteVariable) is { Length: > 0 } given ? Path.GetFullPath(given) : await PublishAsync();
        if (!File.Exists(Path.Combine(Root, "index.html"))) throw new InvalidOperationException($"{Root} holds no index.html: not a published site");
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _server = builder.Build();
        var files = new PhysicalFileProvider(Root);
        _server.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
        _server.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            ContentTypeProvider = new FileExtensionContentTypeProvider(),
            ServeUnknownFileTypes = true, // as a plain static host would (the runtime's .dat and .blat files)
            DefaultContentType = "application/octet-stream",
        });
        await _server.StartAsync();
        Url = _server.Urls.First().TrimEnd('/') + "/";
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }

    private async Task<string> PublishAsync()
    {
        string output = Repository.Path("artifacts/web-e2e");
        string stamp = Path.Combine(output, ".published");
        string wwwroot = Path.Combine(output, "wwwroot");
        if (File.Exists(stamp) && File.GetLastWriteTimeUtc(stamp) > NewestSource()) return wwwroot;

        var clock = Stopwatch.StartNew();
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Repository.Root,
        };
        // Compression (Brotli, gzip) only serves real hosts and would double the publish time here.
        foreach (string arg in new[] { "publish", Repository.Path("src/Web/Web.csproj"), "-c", "Release", "-o", output, "-p:CompressionEnabled=false", "-nologo" })
            start.ArgumentList.Add(arg);
        // A build started from a test run must not inherit the test host's MSBuild settings.
        foreach (string key in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToArray())
            start.Environment.Remove(key);
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(15));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"dotnet publish src/Web failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        await File.WriteAllTextAsync(stamp, DateTime.UtcNow.ToString("O"));
        PublishSeconds = clock.Elapsed.TotalSeconds;
        return wwwroot;
    }

    private static DateTime NewestSource()
    {
        var files = new List<string> { Repository.Path("fixtures/sharegpt-llama3.trace.json"), Repository.Path("Directory.Packages.props"), Repository.Path("Directory.Build.props") };
        foreach (string project in new[] { "src/Web", "src/Allocator" })
            files.AddRange(Directory.EnumerateFiles(Repository.Path(project), "*", SearchOption.AllDirectories)
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")));
        return files.Max(File.GetLastWriteTimeUtc);
    }
}
