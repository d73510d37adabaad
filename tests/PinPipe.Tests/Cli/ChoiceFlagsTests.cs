using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>
/// The flags that name a kind (<c>--log</c>, <c>--object-store</c>, <c>--provider</c>, <c>--lane</c>, <c>--from</c>): help lists
/// the values, any case is read, and a bad value exits 2 naming the key and the valid values, before anything is done.
/// </summary>
public sealed class ChoiceFlagsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("serve", "--log", "sqlite|kafka", "Log:Kind: 'kafak' is not one of: sqlite, kafka.")]
    [InlineData("sink", "--object-store", "directory|s3", "ObjectStore:Kind: 'kafak' is not one of: directory, s3.")]
    [InlineData("seed", "--provider", "sqlite|mysql|postgres", "Source:Provider: 'kafak' is not one of: sqlite, mysql, postgres.")]
    [InlineData("emulate", "--lane", "batch|stream", "Emulator:Lane: 'kafak' is not one of: batch, stream.")]
    [InlineData("stream", "--from", "earliest|latest", "Stream:From: 'kafak' is not one of: earliest, latest.")]
    public async Task A_bad_kind_flag_exits_2_naming_the_key_and_the_values_and_help_lists_them(string command, string flag, string values, string message)
    {
        using var dir = new TempDirectory("cli");

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, command, flag, "kafak");
        var (helpCode, help) = await CliProcess.RunAsync(dir.Path, Timeout, command, "--help");

        Assert.Equal(2, code);
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
        Assert.Equal(0, helpCode);
        Assert.Contains($"{flag} <{values}>", help, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_kind_flag_is_read_in_any_case()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "seed", "--provider", "SQLite", "--rows", "20");
        Assert.True(code == 0, output);
        Assert.Contains("Seeded 20 posts", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("emulate", "--lane", "Stream")]
    [InlineData("up", "--lanes", "stream")]
    public async Task More_than_500_records_a_request_on_the_stream_lane_exits_2_with_one_message_before_anything_is_opened(string command, string flag, string lane)
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, command, flag, lane, "--records-per-request", "600");

        Assert.Equal(2, code);
        const string Message = "Emulator:RecordsPerRequest: 600 must be at most 500 on the stream lane";
        Assert.Single(output.Split('\n'), line => line.Contains(Message, StringComparison.Ordinal));
        Assert.DoesNotContain("must be at most 500", output.Replace(Message, "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
    }
}
