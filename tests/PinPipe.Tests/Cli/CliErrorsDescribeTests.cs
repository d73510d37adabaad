using System.Net;
using System.Net.Sockets;
using Amazon.S3;
using Confluent.Kafka;
using PinPipe.Cli;
using PinPipe.Errors;
using PinPipe.Log;
using PinPipe.Source;

namespace PinPipe.Tests.Cli;

/// <summary>
/// How <see cref="CliErrors"/> classifies what the jobs throw: wrappers are looked through to the root cause's kind
/// (the end-to-end lines are in <see cref="CliErrorsTests"/>).
/// </summary>
public sealed class CliErrorsDescribeTests
{
    [Fact]
    public void A_wrapped_log_failure_keeps_the_wrappers_words_and_the_roots_exit_code()
    {
        var root = new LogException(LogErrorCode.Unavailable, "The log could not append: disk full", where: "log.db");
        var wrapped = new AggregateException(new InvalidOperationException($"The S3 sink stopped: {root.Message}", root));

        var error = CliErrors.Describe(wrapped, null);

        Assert.NotNull(error);
        Assert.Equal(3, error.ExitCode);
        Assert.Equal("error: The S3 sink stopped: The log could not append: disk full (log.db)", error.Line);
    }

    [Theory]
    [InlineData(ErrorKind.Failed, 1)]
    [InlineData(ErrorKind.BadInput, 2)]
    [InlineData(ErrorKind.Unavailable, 3)]
    public void A_pinpipe_exception_exits_by_its_kind(ErrorKind kind, int code)
    {
        var error = CliErrors.Describe(new SourceException("source.test", kind, "what went wrong.", where: "where"), null);
        Assert.Equal(code, error!.ExitCode);
        Assert.Equal("error: what went wrong (where)", error.Line);
    }

    [Fact]
    public void S3_answering_5xx_is_unavailable_and_4xx_failed()
    {
        var busy = new AmazonS3Exception("Slow down") { StatusCode = HttpStatusCode.ServiceUnavailable, ErrorCode = "SlowDown" };
        var denied = new AmazonS3Exception("Access Denied") { StatusCode = HttpStatusCode.Forbidden, ErrorCode = "AccessDenied" };
        Assert.Equal(3, CliErrors.Describe(new InvalidOperationException("The sink connector failed: Slow down", busy), null)!.ExitCode);
        var error = CliErrors.Describe(denied, null)!;
        Assert.Equal(1, error.ExitCode);
        Assert.Equal("error: S3 answered 403 AccessDenied: Access Denied (S3)", error.Line);
    }

    [Fact]
    public void Network_and_broker_failures_are_unavailable()
    {
        Assert.Equal(3, CliErrors.Describe(new HttpRequestException("Connection refused (127.0.0.1:1)", new SocketException((int)SocketError.ConnectionRefused)), null)!.ExitCode);
        Assert.Equal(3, CliErrors.Describe(new KafkaException(ErrorCode.Local_Transport), null)!.ExitCode);
    }

    [Fact]
    public void Bad_arguments_exit_2_without_dotnet_parameter_names()
    {
        var error = CliErrors.Describe(new ArgumentException("--records: -3 must be zero (until Ctrl-C) or more.", "records"), null)!;
        Assert.Equal(2, error.ExitCode);
        Assert.Equal("error: --records: -3 must be zero (until Ctrl-C) or more.", error.Line);
    }

    [Fact]
    public void A_bug_is_not_an_expected_failure()
    {
        Assert.Null(CliErrors.Describe(new KeyNotFoundException("no such key"), null));
    }
}
