using PinPipe.Configuration;

namespace PinPipe.Observability;

/// <summary>Settings of the metrics endpoint of processes that do not run the API (configuration section <c>Metrics</c>).</summary>
public sealed record MetricsOptions
{
    /// <summary>
    /// Where <c>pinpipe sink</c>, <c>pinpipe stream</c> and <c>pinpipe schedule</c>, run as their own processes, serve
    /// <c>GET /metrics</c> (and <c>/healthz</c>): one or more <c>http://</c> URLs separated by ';', e.g.
    /// <c>http://127.0.0.1:9464</c>. Default none: they serve nothing. The API serves its own <c>/metrics</c>
    /// (<c>Ingest:Metrics</c>). The same keys guard it as the API (<c>Ingest:KeysFile</c>, <c>Ingest:AllowAnonymous</c>).
    /// </summary>
    public string? Urls { get; init; }

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new SettingsProblems();
        if (Urls is null) return problems.ToList();
        var urls = Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        problems.Check(urls.Length > 0, "Metrics:Urls: give at least one http:// URL (e.g. http://127.0.0.1:9464), or leave it unset.");
        foreach (var url in urls)
            problems.Check(Uri.TryCreate(url, UriKind.Absolute, out var u) && u.Scheme == "http" && u.AbsolutePath == "/",
                $"Metrics:Urls: '{url}' must be an absolute http:// URL without a path (e.g. http://127.0.0.1:9464); /metrics is served under it.");
        return problems.ToList();
    }
}
