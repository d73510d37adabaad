using System.Data.Common;
using System.Net.Sockets;
using Amazon.Runtime;
using Confluent.Kafka;
using PinPipe.Configuration;
using PinPipe.Errors;
using PinPipe.Hosting;
using PinPipe.Lake.S3;

namespace PinPipe.Cli;

/// <summary>An expected failure as the CLI reports it: <c>error: {Message} ({Where})</c> and the exit code.</summary>
internal sealed record CliError(string Message, string? Where, int ExitCode)
{
    /// <summary>The one line: <c>error: what went wrong (where)</c>.</summary>
    public string Line => Where is null ? $"error: {Message}" : $"error: {Message.TrimEnd('.')} ({Where})";
}

/// <summary>
/// The one place that turns an expected failure into one line and an exit code (<see cref="ExitCodes"/>): a
/// <see cref="PinPipeException"/> by its <see cref="ErrorKind"/>; S3, AWS credentials, Kafka, database, socket, HTTP and
/// I/O errors by what they mean. Wrappers (<see cref="AggregateException"/>, "The S3 sink stopped: ...") are looked
/// through to the first exception that says what kind of failure it is. Anything else is a bug: null.
/// </summary>
internal static class CliErrors
{
    /// <summary>The report of <paramref name="exception"/>, or null when it is not an expected failure (a bug, shown with its stack trace).</summary>
    public static CliError? Describe(Exception exception, PinPipeSettings? settings)
    {
        var chain = Chain(exception).ToList();
        var top = chain[0];
        // A PinPipe exception anywhere in the chain says what kind of failure this is.
        if (chain.OfType<PinPipeException>().FirstOrDefault() is { } pinPipe)
        {
            if (pinPipe is SettingsException) return new(pinPipe.Message, null, ExitCodes.BadSettings);
            return new(Text(top is AggregateException ? pinPipe : top), pinPipe.Where, ExitFor(pinPipe.Kind));
        }
        foreach (var e in chain)
        {
            switch (e)
            {
                case AmazonServiceException s:
                    return new($"S3 answered {(int)s.StatusCode} {s.ErrorCode}: {OneLine(s.Message)}", S3Where(settings),
                        (int)s.StatusCode >= 500 ? ExitCodes.Unavailable : ExitCodes.Failed);
                case AmazonClientException c when c.Message.Contains("credentials", StringComparison.OrdinalIgnoreCase):
                    return new(S3ObjectStore.NoCredentialsMessage(), S3Where(settings), ExitCodes.BadSettings);
                case KafkaException k:
                    return new($"Kafka: {OneLine(k.Message)}", KafkaWhere(settings), ExitCodes.Unavailable);
                case IOException io when io.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException:
                    return new(Text(io), "--urls, Ingest:Urls", ExitCodes.Unavailable);
                case SocketException or HttpRequestException or TimeoutException:
                    return new(Text(top), null, ExitCodes.Unavailable);
                default:
                    break;
            }
        }
        return top switch
        {
            AmazonClientException => new(Text(top), S3Where(settings), ExitCodes.Unavailable),
            IOException => new(Text(top), null, ExitCodes.Unavailable),
            ArgumentException => new(Text(top), null, ExitCodes.BadSettings),
            DbException or UnauthorizedAccessException or InvalidOperationException or FormatException or InvalidDataException
                => new(Text(top), null, ExitCodes.Failed),
            _ => null,
        };
    }

    /// <summary>The exit code of a <see cref="PinPipeException"/>'s kind.</summary>
    public static int ExitFor(ErrorKind kind) => kind switch
    {
        ErrorKind.BadInput => ExitCodes.BadSettings,
        ErrorKind.Unavailable => ExitCodes.Unavailable,
        _ => ExitCodes.Failed,
    };

    private static string S3Where(PinPipeSettings? settings) => settings is null ? "S3"
        : $"bucket '{settings.ObjectStore.Bucket ?? settings.Names.Bucket}' at {settings.ObjectStore.ServiceUrl ?? "AWS S3"}";

    private static string? KafkaWhere(PinPipeSettings? settings) =>
        settings?.Log.Kafka.TryGetValue("bootstrap.servers", out var servers) == true ? $"{servers}, --bootstrap-servers" : "--bootstrap-servers";

    /// <summary>The exception and its inner exceptions, outermost first; an aggregate of one is looked through.</summary>
    private static IEnumerable<Exception> Chain(Exception exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is AggregateException { InnerExceptions.Count: > 1 } many)
            {
                yield return many;
                e = many.InnerExceptions[0];
            }
            else if (e is AggregateException)
            {
                continue;
            }
            yield return e;
        }
    }

    /// <summary>The message on one line, without .NET's "(Parameter 'x')".</summary>
    private static string Text(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentException { ParamName: { } name })
            message = message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal);
        return OneLine(message);
    }

    private static string OneLine(string text) =>
        string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
