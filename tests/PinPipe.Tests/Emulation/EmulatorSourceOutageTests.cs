using Microsoft.Extensions.Logging;
using Npgsql;
using PinPipe.Configuration;
using PinPipe.Emulation;
using PinPipe.Source;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Emulation;

/// <summary>
/// The source database going away while the emulator runs: a real PostgreSQL (TEST_PINPIPE_POSTGRES, its tables in a
/// schema of the test's own) reached through <see cref="FaultProxy"/> in TCP mode, whose <see cref="FaultProxy.Cut"/>
/// resets every open connection and every new one until <see cref="FaultProxy.Restore"/>, as a server that stopped. A
/// short outage is waited out, each retry one warning line and counted in the result, and every record is posted (exit
/// 0); an outage longer than <c>Emulator:MaxSourceOutage</c> stops the run, which sends what it took and fails naming the
/// posts not sent (exit 3). In process, and through <c>pinpipe emulate</c> as a process, both posting to an in-process
/// server with the ingest API's produce routes (<see cref="IngestTestServer"/>).
/// </summary>
public sealed class EmulatorSourceOutageTests : IAsyncLifetime
{
    private const int Posts = 1500;
    private static readonly PipelineNames Names = new("outage");
    private readonly string _admin = Environment.GetEnvironmentVariable("TEST_PINPIPE_POSTGRES") is { Length: > 0 } value ? value
        : throw new InvalidOperationException("TEST_PINPIPE_POSTGRES is not set. Run scripts/services/start.sh and then `source ${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}/env` before dotnet test.");
    private readonly string _schema = "outage_" + Guid.NewGuid().ToString("N")[..12];
    private FaultProxy _proxy = null!;

    /// <summary>Runs one statement on the server straight (the schema's name is the test's own: letters, digits and '_').</summary>
    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_admin);
        await connection.OpenAsync();
#pragma warning disable CA2100 // the test's own statement, no input
        await using var command = new NpgsqlCommand(sql, connection);
#pragma warning restore CA2100
        await command.ExecuteNonQueryAsync();
    }

    public async Task InitializeAsync()
    {
        await ExecuteAsync($"CREATE SCHEMA {_schema}");
        await using (var direct = new PostgresSourceDatabase(ConnectionString(through: null)))
            await Seeder.SeedAsync(direct, 2000, 42);
        var server = new NpgsqlConnectionStringBuilder(_admin);
        _proxy = FaultProxy.Tcp(server.Host!, server.Port);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await ExecuteAsync($"DROP SCHEMA {_schema} CASCADE");
    }

    /// <summary>The test's schema, straight or through <paramref name="through"/> (a connection refused or reset fails at once).</summary>
    private string ConnectionString(FaultProxy? through)
    {
        var builder = new NpgsqlConnectionStringBuilder(_admin) { SearchPath = _schema, Timeout = 3 };
        if (through is not null) (builder.Host, builder.Port) = ("127.0.0.1", through.Port);
        return builder.ConnectionString;
    }

    private static EmulatorOptions Options(IngestTestServer server, TimeSpan maxOutage) => new()
    {
        ApiUrl = server.BaseUrl,
        Count = Posts,
        Rate = 500, // a read of 128 posts about every quarter of a second: an outage of a second or more meets reads
        Concurrency = 4,
        RetryBaseDelay = TimeSpan.FromMilliseconds(5),
        Seed = 7,
        MaxSourceOutage = maxOutage,
    };

    /// <summary>Waits until the server got a first few posts' requests, then cuts the source database off for <paramref name="outage"/> (null: for good).</summary>
    private async Task CutOffAsync(IngestTestServer server, TimeSpan? outage, Task running)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (server.Requests.Count < 60 && !running.IsCompleted)
        {
            Assert.True(DateTime.UtcNow < deadline, "the emulator posted nothing");
            await Task.Delay(10);
        }
        Assert.False(running.IsCompleted, "the run ended before the outage");
        _proxy.Cut();
        if (outage is not { } length) return;
        await Task.Delay(length);
        _proxy.Restore();
    }

    /// <summary>The records the server received per topic.</summary>
    private static Dictionary<string, int> RecordsByTopic(IngestTestServer server) =>
        server.Requests.GroupBy(r => r.Path[(r.Path.LastIndexOf('/') + 1)..]).ToDictionary(g => g.Key, g => g.Sum(r => r.RecordCount));

    /// <summary>An emulator run (in process) through the proxy, the source cut off for <paramref name="outage"/> (null: for good) once it posted: its result, its log and the records the server received per topic.</summary>
    private async Task<(EmulatorResult Result, IReadOnlyList<CapturedLogs.Entry> Logs, Dictionary<string, int> Received)> EmulateAsync(TimeSpan maxOutage, TimeSpan? outage)
    {
        await using var server = await IngestTestServer.StartAsync();
        using var logs = new CapturedLogs();
        using var loggers = logs.Factory();
        await using var source = new PostgresSourceDatabase(ConnectionString(_proxy));
        var emulator = new Emulator(Options(server, maxOutage), source, Names, loggers.CreateLogger<Emulator>());
        var run = emulator.RunAsync();
        await CutOffAsync(server, outage, run);
        var result = await run;
        return (result, logs.Entries, RecordsByTopic(server));
    }

    [Fact]
    public async Task A_short_outage_is_retried_reported_and_every_record_posted()
    {
        var (result, logs, received) = await EmulateAsync(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(2.5));

        Assert.Null(result.SourceFailure);
        Assert.Equal(Posts, result.Posts);
        Assert.Equal(0, result.PostsNotSent);
        Assert.Equal(0, result.RecordsLost);
        Assert.Equal(3 * Posts - result.MissingRows, result.RecordsAcknowledged);
        Assert.Equal(Posts, received[Names.Topics[0]]);
        Assert.Equal(3 * Posts - result.MissingRows, received.Values.Sum());
        Assert.True(result.SourceRetries > 0, "no read met the outage");
        Assert.InRange(result.SourceUnavailable, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(30));
        var retries = logs.Where(e => e.Message.StartsWith("Reading posts from the source database (postgres) failed (attempt ", StringComparison.Ordinal)).ToList();
        Assert.Equal(result.SourceRetries, retries.Count);
        Assert.All(retries, r =>
        {
            Assert.Equal(LogLevel.Warning, r.Level);
            Assert.Null(r.Exception);
            Assert.Contains("; retrying in ", r.Message, StringComparison.Ordinal);
        });
        Assert.Contains(logs, e => e.Level == LogLevel.Information && e.Message.StartsWith("The source database (postgres) answers again, after ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_outage_longer_than_the_limit_stops_the_run_which_sends_what_it_took_and_names_what_it_did_not()
    {
        var (result, logs, received) = await EmulateAsync(TimeSpan.FromSeconds(1), outage: null);

        Assert.NotNull(result.SourceFailure);
        Assert.InRange(result.Posts, 20, Posts - 1);
        Assert.Equal(Posts - result.Posts, result.PostsNotSent);
        // What was taken was sent and acknowledged; the rest is named.
        Assert.Equal(0, result.RecordsLost);
        Assert.Equal(result.Posts, received[Names.Topics[0]]);
        Assert.StartsWith("the source database (postgres) could not be read for ", result.SourceFailure, StringComparison.Ordinal);
        Assert.Contains(" (Emulator:MaxSourceOutage 1s): ", result.SourceFailure, StringComparison.Ordinal);
        Assert.EndsWith($"; the run stopped taking posts after {result.Posts:N0} of {Posts:N0} posts: {result.PostsNotSent:N0} posts (up to {3 * result.PostsNotSent:N0} records) were not sent",
            result.SourceFailure, StringComparison.Ordinal);
        Assert.True(result.SourceRetries > 0);
        Assert.Equal(result.SourceRetries, logs.Count(e => e.Level == LogLevel.Warning && e.Message.Contains(" failed (attempt ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Pinpipe_emulate_exits_0_after_a_short_outage_and_3_naming_the_posts_not_sent_after_a_long_one()
    {
        var timeout = TimeSpan.FromSeconds(120);
        using var dir = new TempDirectory("emulate-outage");
        var environment = new Dictionary<string, string?> { ["PINPIPE_Source__ConnectionString"] = ConnectionString(_proxy) };
        string[] Args(IngestTestServer server, string maxOutage) =>
            ["emulate", "--provider", "postgres", "--count", Posts.ToString(System.Globalization.CultureInfo.InvariantCulture), "--rate", "500",
             "--concurrency", "4", "--emulator-seed", "7", "--user-id", "outage", "--api-url", server.BaseUrl, "--max-source-outage", maxOutage];

        // A short outage: waited out, each retry a warning line, counted in the summary; every record posted.
        await using (var server = await IngestTestServer.StartAsync())
        {
            var run = CliProcess.RunWithEnvironmentAsync(environment, dir.Path, timeout, Args(server, "30s"));
            await CutOffAsync(server, TimeSpan.FromSeconds(2.5), run);
            var (code, output) = await run;
            Assert.True(code == 0, output);
            Assert.Contains($"Emulator: {Posts:N0} posts", output, StringComparison.Ordinal);
            Assert.Contains("Source database: unreadable for ", output, StringComparison.Ordinal);
            Assert.Contains(" warn: ", output.Split('\n').First(l => l.Contains("Reading posts from the source database (postgres) failed (attempt 1)", StringComparison.Ordinal)), StringComparison.Ordinal);
            Assert.DoesNotContain("error:", output, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
            Assert.Equal(Posts, RecordsByTopic(server)["outage.pin"]);
        }

        // An outage past --max-source-outage: what was taken is posted, then exit 3 with one line naming what was not.
        await using (var server = await IngestTestServer.StartAsync())
        {
            var run = CliProcess.RunWithEnvironmentAsync(environment, dir.Path, timeout, Args(server, "1s"));
            await CutOffAsync(server, outage: null, run);
            var (code, output) = await run;
            Assert.True(code == 3, output);
            string error = Assert.Single(output.Split('\n'), l => l.StartsWith("error: the source database", StringComparison.Ordinal));
            Assert.Contains("could not be read for ", error, StringComparison.Ordinal);
            Assert.Contains("(Emulator:MaxSourceOutage 1s)", error, StringComparison.Ordinal);
            int taken = RecordsByTopic(server)["outage.pin"];
            Assert.Contains($"the run stopped taking posts after {taken:N0} of {Posts:N0} posts: {Posts - taken:N0} posts (up to {3 * (Posts - taken):N0} records) were not sent", error, StringComparison.Ordinal);
            Assert.DoesNotContain("LOST:", output, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Max_source_outage_is_checked_naming_the_key()
    {
        Assert.Equal(TimeSpan.FromMinutes(1), EmulatorOptions.Default.MaxSourceOutage);
        Assert.Contains((EmulatorOptions.Default with { MaxSourceOutage = TimeSpan.FromDays(2) }).Validate(),
            p => p.StartsWith("Emulator:MaxSourceOutage: 2d must be 0", StringComparison.Ordinal));
        Assert.Empty((EmulatorOptions.Default with { MaxSourceOutage = TimeSpan.Zero }).Validate());
    }
}
