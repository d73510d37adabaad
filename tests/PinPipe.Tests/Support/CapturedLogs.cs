using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace PinPipe.Tests.Support;

/// <summary>A logger provider that keeps every entry (level, category, message, exception) for the test to read.</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    public sealed record Entry(LogLevel Level, string Category, string Message, Exception? Exception);

    public IReadOnlyList<Entry> Entries => [.. _entries];

    /// <summary>A factory that logs every level to this provider.</summary>
    public ILoggerFactory Factory() => LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(this));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    /// <summary>
    /// Asserts that <paramref name="count"/> retries were logged as <c>Retry.LogRetry</c> logs them: each one warning line
    /// (containing <paramref name="containing"/>) without the exception, and the exception at Debug, once per retry.
    /// </summary>
    public List<Entry> AssertRetries(int count, string containing)
    {
        var retries = Entries.Where(e => e.Message.Contains("retrying in", StringComparison.Ordinal)).ToList();
        Assert.Equal(count, retries.Count);
        Assert.All(retries, r =>
        {
            Assert.Equal(LogLevel.Warning, r.Level);
            Assert.Null(r.Exception);
            Assert.Contains("failed (attempt ", r.Message, StringComparison.Ordinal);
            Assert.Contains(containing, r.Message, StringComparison.Ordinal);
        });
        Assert.Equal(count, Entries.Count(e => e.Level == LogLevel.Debug && e.Message.Contains("failed with", StringComparison.Ordinal) && e.Exception is not null));
        return retries;
    }

    public void Dispose() { }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue(new Entry(logLevel, category, formatter(state, exception), exception));
    }
}
