using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>
/// The S3 bucket as a user meets it through the CLI (a real <c>pinpipe</c> process against s3rver, started by
/// <c>scripts/services/s3rver.sh start</c>; its address is read from TEST_PINPIPE_S3): a missing bucket stops
/// <c>sink</c>, <c>stream</c> and <c>batch</c> at once with one line naming the bucket, the endpoint and how to create
/// it; <c>up</c> creates it; a transient failure (503s from <see cref="FaultProxy"/> in front of s3rver) is retried, one line per retry,
/// the stack trace only with <c>--verbose</c>.
/// </summary>
public sealed class ObjectStoreFailureTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);
    private readonly string _endpoint = Environment.GetEnvironmentVariable("TEST_PINPIPE_S3") is { Length: > 0 } e ? e
        : throw new InvalidOperationException(
            "TEST_PINPIPE_S3 is not set: run `scripts/services/s3rver.sh start` and then " +
            "`source ${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}/s3.env` before `dotnet test`.");
    private readonly string _bucket = "pinpipe-cli-" + Guid.NewGuid().ToString("N")[..16];
    private readonly TempDirectory _dir = new("cli-s3");
    private readonly AmazonS3Client _s3;

    public ObjectStoreFailureTests() =>
        _s3 = new AmazonS3Client(new BasicAWSCredentials("S3RVER", "S3RVER"), new AmazonS3Config { ServiceURL = _endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });

    /// <summary>s3rver's credentials and path-style addressing, as a user gives them: the AWS SDK's environment variables and a PINPIPE_ setting.</summary>
    internal static Dictionary<string, string?> S3Environment() => new()
    {
        ["AWS_ACCESS_KEY_ID"] = "S3RVER",
        ["AWS_SECRET_ACCESS_KEY"] = "S3RVER",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
        ["PINPIPE_ObjectStore__ForcePathStyle"] = "true",
    };

    private string[] S3Flags(string endpoint) => ["--object-store", "s3", "--s3-endpoint", endpoint, "--bucket", _bucket, "--user-id", "s3u"];

    private Task<(int ExitCode, string Output)> RunAsync(params string[] args) => CliProcess.RunWithEnvironmentAsync(S3Environment(), _dir.Path, Timeout, args);

    private static string[] Lines(string output, string containing) =>
        output.Split('\n').Where(l => l.Contains(containing, StringComparison.Ordinal)).ToArray();

    private async Task<bool> BucketExistsAsync()
    {
        try
        {
            await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, MaxKeys = 1 });
            return true;
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
        {
            return false;
        }
    }

    [Theory]
    [InlineData("sink")]
    [InlineData("stream")]
    [InlineData("batch")]
    public async Task A_missing_bucket_stops_the_command_at_once_with_one_line_naming_the_bucket_the_endpoint_and_how_to_create_it(string command)
    {
        // The embedded log the sink and the stream job read (as `pinpipe serve` would leave it).
        var (created, createOutput) = await RunAsync("topics", "create", "s3u.pin", "--user-id", "s3u");
        Assert.True(created == 0, createOutput);

        var (code, output) = await RunAsync([command, .. S3Flags(_endpoint)]);

        // A missing bucket is a settings/environment problem that retrying cannot fix, not a failed run: exit code 2.
        Assert.True(code == 2, output);
        string line = Assert.Single(Lines(output, "does not exist"));
        Assert.StartsWith("error: the bucket does not exist", line, StringComparison.Ordinal);
        Assert.Contains($"aws s3 mb s3://{_bucket} --endpoint-url {_endpoint}", line, StringComparison.Ordinal);
        Assert.Contains($"(bucket '{_bucket}' at {_endpoint})", line, StringComparison.Ordinal);
        Assert.Contains("--create-bucket", line, StringComparison.Ordinal);
        Assert.Single(Lines(output, "error:"));
        Assert.Empty(Lines(output, "   at "));
        Assert.Empty(Lines(output, "retrying"));
        Assert.Empty(Lines(output, "fail:"));
        Assert.False(await BucketExistsAsync());
    }

    [Fact]
    public async Task Sink_with_create_bucket_creates_the_missing_bucket_and_runs()
    {
        var (created, createOutput) = await RunAsync("topics", "create", "s3u.pin", "--user-id", "s3u");
        Assert.True(created == 0, createOutput);

        await using var sink = CliProcess.StartWithEnvironment(S3Environment(), _dir.Path, ["sink", "--create-bucket", .. S3Flags(_endpoint)]);
        var deadline = DateTime.UtcNow + Timeout;
        while (!sink.Output.Contains("Ctrl-C to stop", StringComparison.Ordinal) && !sink.HasExited && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.False(sink.HasExited, sink.Output);
        Assert.Equal(0, await sink.InterruptAsync(Timeout));

        Assert.Single(Lines(sink.Output, $"Created the missing bucket '{_bucket}' at {_endpoint}."));
        Assert.True(await BucketExistsAsync());
    }

    [Fact]
    public async Task Up_creates_the_missing_bucket_saying_so_once_and_lands_the_records_there()
    {
        int port = CliProcess.FreePort();
        var (code, output) = await RunAsync(["up", "--records", "30", "--rows", "200", "--urls", $"http://127.0.0.1:{port}", .. S3Flags(_endpoint)]);

        Assert.True(code == 0, output);
        Assert.Single(Lines(output, $"Created the missing bucket '{_bucket}' at {_endpoint}."));
        Assert.Empty(Lines(output, "   at "));
        var raw = await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = "topics/s3u.pin/" });
        Assert.NotEmpty(raw.S3Objects ?? []);
        var delta = await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = "delta/pin/_delta_log/" });
        Assert.NotEmpty(delta.S3Objects ?? []);
    }

    [Fact]
    public async Task A_transient_failure_is_retried_with_one_line_per_retry_and_no_stack_trace_and_the_run_succeeds()
    {
        // Two 503s: the start check is one request an attempt (the check retries it, after 1 s, then 2 s); its third attempt gets through.
        await using var proxy = FaultProxy.SlowDownFirst(new Uri(_endpoint), requests: 2);
        int port = CliProcess.FreePort();
        var (code, output) = await RunAsync(["up", "--records", "30", "--rows", "200", "--urls", $"http://127.0.0.1:{port}", .. S3Flags(proxy.Url)]);

        Assert.True(code == 0, output);
        Assert.Equal(2, proxy.Injected(Fault.SlowDown));
        string[] retries = Lines(output, "retrying in");
        Assert.NotEmpty(retries);
        Assert.All(retries, l =>
        {
            Assert.Contains("warn:", l, StringComparison.Ordinal);
            Assert.Contains("failed (attempt ", l, StringComparison.Ordinal);
            Assert.Contains("HTTP 503", l, StringComparison.Ordinal);
            Assert.Contains($"(bucket '{_bucket}' at {proxy.Url})", l, StringComparison.Ordinal);
        });
        Assert.True(retries.Length <= 2, output);
        Assert.Empty(Lines(output, "   at "));
        Assert.Empty(Lines(output, "error:"));
        Assert.Single(Lines(output, $"Created the missing bucket '{_bucket}' at {proxy.Url}."));
    }

    [Fact]
    public async Task With_verbose_a_retry_also_shows_the_failure_with_its_stack_trace()
    {
        await _s3.PutBucketAsync(new PutBucketRequest { BucketName = _bucket });
        await using var proxy = FaultProxy.SlowDownFirst(new Uri(_endpoint), requests: 2);

        // An empty bucket: once through, the batch job stops on its missing raw objects; what matters is the retry's log.
        var (code, output) = await RunAsync(["batch", "--verbose", .. S3Flags(proxy.Url)]);

        Assert.True(code == 1, output);
        Assert.Contains("No raw objects", output, StringComparison.Ordinal);
        Assert.NotEmpty(Lines(output, "retrying in"));
        Assert.NotEmpty(Lines(output, "   at "));
    }

    public void Dispose()
    {
        _s3.Dispose();
        _dir.Dispose();
    }
}
