using Microsoft.Extensions.Logging;
using PinPipe.Configuration;
using PinPipe.Log.Kafka;
using PinPipe.Log.Sqlite;

namespace PinPipe.Log;

/// <summary>Opens the log implementation named by <see cref="LogOptions.Kind"/>.</summary>
public static class LogFactory
{
    /// <summary>
    /// Opens the log: <c>sqlite</c> gives the embedded <see cref="SqliteLog"/> (as the producer or as a consumer of
    /// the file, according to <see cref="LogOptions.Access"/>); <c>kafka</c> the <see cref="KafkaLog"/> on the brokers
    /// of <c>Log:Kafka:bootstrap.servers</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The kind is not one PinPipe knows, or <c>kafka</c> without <c>Log:Kafka:bootstrap.servers</c>.</exception>
    public static async ValueTask<ILog> OpenAsync(LogOptions options, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Kind switch
        {
            LogKind.Sqlite => await SqliteLog.OpenAsync(options, loggerFactory?.CreateLogger<SqliteLog>(), null, cancellationToken).ConfigureAwait(false),
            LogKind.Kafka => await KafkaLog.OpenAsync(options, loggerFactory?.CreateLogger<KafkaLog>(), cancellationToken).ConfigureAwait(false),
            _ => throw new ArgumentException(SettingChoices.NotOneOf<LogKind>("Log:Kind", options.Kind.ToString()), nameof(options)),
        };
    }
}
