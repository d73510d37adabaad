using System.Globalization;
using PinPipe.Hosting;
using PinPipe.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>
/// <c>pinpipe topics create/delete</c> while <c>pinpipe serve</c> runs on the embedded log (both real processes): the
/// error names the serving process and the ways forward, nothing changes; once it stops the same command works.
/// </summary>
public sealed class TopicsWhileServingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Create_and_delete_while_serve_holds_the_log_name_its_pid_and_how_to_go_on_and_work_once_it_stops()
    {
        using var dir = new TempDirectory("cli");
        int port = CliProcess.FreePort();
        var settings = new PinPipeSettings { DataDir = Path.Combine(dir.Path, ".pinpipe") }.Resolve();
        await using (var serve = CliProcess.Start(dir.Path, "serve", "--urls", $"http://127.0.0.1:{port}"))
        {
            await serve.WaitHealthyAsync(new Uri($"http://127.0.0.1:{port}/healthz"), Timeout);
            string pid = (await File.ReadAllTextAsync(settings.Log.Path + ".lock.pid")).Trim();
            Assert.True(int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out _), pid);

            var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "topics", "create", "orders", "--partitions", "2");
            // A held lock is a dependency unavailable now: exit 3 once the CLI maps error kinds to exit codes, 1 before.
            Assert.True(code == 3, output); // the log is held: a dependency unavailable now
            Assert.Contains($"error: Cannot create a topic: the embedded log is held by `pinpipe serve` (pid {pid})", output, StringComparison.Ordinal);
            Assert.Contains($"Stop it (Ctrl-C, or kill {pid}) and run `pinpipe topics create` again", output, StringComparison.Ordinal);
            Assert.EndsWith($"({settings.Log.Path})", output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Single(l => l.StartsWith("error:", StringComparison.Ordinal)), StringComparison.Ordinal);
            Assert.Contains("POST /streams/<name> (CreateStream)", output, StringComparison.Ordinal);
            Assert.DoesNotContain("already open", output, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);

            var (deleteCode, deleteOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "topics", "delete", settings.Names.PinTopic);
            Assert.True(deleteCode == 3, deleteOutput);
            Assert.Contains($"error: Cannot delete a topic: the embedded log is held by `pinpipe serve` (pid {pid})", deleteOutput, StringComparison.Ordinal);
            Assert.Contains("DELETE /streams/<name> (DeleteStream)", deleteOutput, StringComparison.Ordinal);

            Assert.Equal(0, await serve.SignalAsync("TERM", Timeout));
        }

        Assert.False(File.Exists(settings.Log.Path + ".lock.pid"));
        await using (var log = await LogFactory.OpenAsync(settings.Log with { Access = LogAccess.Consumer }))
        {
            Assert.Null(await log.DescribeTopicAsync("orders"));
            Assert.NotNull(await log.DescribeTopicAsync(settings.Names.PinTopic));
        }

        var (created, createdOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "topics", "create", "orders", "--partitions", "2");
        Assert.True(created == 0, createdOutput);
        Assert.Contains("Topic orders has 2 partitions.", createdOutput, StringComparison.Ordinal);
        await using (var log = await LogFactory.OpenAsync(settings.Log with { Access = LogAccess.Consumer }))
            Assert.Equal(2, (await log.DescribeTopicAsync("orders"))!.Partitions);
    }

    [Theory]
    [InlineData("create")]
    [InlineData("delete")]
    public async Task Help_lists_partitions_at_most_once(string action)
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "topics", action, "--help");
        Assert.True(code == 0, output);
        int count = output.Split('\n').Count(l => l.TrimStart().StartsWith("--partitions", StringComparison.Ordinal));
        Assert.Equal(action == "create" ? 1 : 0, count);
        Assert.DoesNotContain("Log:DefaultPartitions", output, StringComparison.Ordinal);
        Assert.Contains("--log-path", output, StringComparison.Ordinal);
    }
}
