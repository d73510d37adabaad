using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Configuration;
using PinPipe.Errors;
using PinPipe.Source;

namespace PinPipe.Emulation;

/// <summary>
/// The user posting emulator: the original <c>user_posting_emulation.py</c> made fast and safe. It draws
/// random source posts (seeded, so the same seed picks the same rows) and posts each post's pin, geo and
/// user rows as raw JSON records (SPEC §3) to the ingest API (SPEC §6): Kafka REST topics on the
/// <c>batch</c> lane, the Kinesis proxy's streams on the <c>stream</c> lane. Requests are paced, run
/// <see cref="EmulatorOptions.Concurrency"/> at a time over one pooled HTTP/1.1 connection pool, and
/// retried with exponential backoff on 5xx, 429, per-record errors and connection failures. A source database that
/// cannot be read mid-run (a lost connection, the server stopped) is retried with backoff for up to
/// <see cref="EmulatorOptions.MaxSourceOutage"/>, one warning line a retry, counted in the result; past it the run
/// stops taking posts and ends with <see cref="EmulatorResult.SourceFailure"/> naming what was not sent.
/// </summary>
/// <remarks>
/// The run ends after <see cref="EmulatorOptions.Count"/> posts, after <see cref="EmulatorOptions.Duration"/>,
/// or when the token passed to <see cref="RunAsync"/> is cancelled. It then stops taking posts, sends the
/// records already taken and waits for requests in flight (at most <see cref="DrainTimeout"/> after a
/// cancellation), and returns the totals: it does not throw on cancellation. An instance runs once.
/// </remarks>
public sealed partial class Emulator
{
    /// <summary>Longest a run waits for requests in flight once its token is cancelled.</summary>
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    private const int FetchBatch = 128;
    private const int MaxEmptyFetches = 20;
    private const int MaxDistinctErrors = 20;
    private static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Shed answers (429 or 503 with <c>Retry-After</c>) one request may get before its records count as lost: they do not
    /// use up <see cref="EmulatorOptions.MaxAttempts"/>, since the server asked to come back, but a server that sheds
    /// for minutes on end (about 2 at a Retry-After of 1 s) ends the wait.
    /// </summary>
    internal const int MaxShedRetries = 120;

    private readonly EmulatorOptions _options;
    private readonly ISourceDatabase _source;
    private readonly ILogger _logger;
    private readonly HttpMessageHandler? _handler;
    private readonly bool _streamLane;
    private readonly Target[] _targets;
    private readonly RecordEncoder _encoder = RecordEncoder.Default;
    private readonly LatencyHistogram _latency = new();
    private readonly ConcurrentDictionary<string, byte> _errors = new(StringComparer.Ordinal);

    private long _posts;
    private long _requests;
    private long _sent;
    private long _acknowledged;
    private long _failed;
    private long _retries;
    private long _inFlight;
    private long _missing;
    private long _startTimestamp;
    private long _endTimestamp;
    private int _started;
    private long _sourceRetries;
    private long _sourceUnavailableTicks;
    private string? _sourceFailure; // why the run gave up on the source database
    private long _postsNotSent;

    /// <summary>The first wait before a read of the source database is retried; doubled after each failure in a row, at most <see cref="MaxSourceRetryDelay"/>.</summary>
    private static readonly TimeSpan SourceRetryDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxSourceRetryDelay = TimeSpan.FromSeconds(5);

    /// <summary>Checks <paramref name="options"/> (every problem reported at once) and prepares a run.</summary>
    /// <param name="options">What to send, where, how fast.</param>
    /// <param name="source">The source database the posts come from.</param>
    /// <param name="names">Topic and stream names.</param>
    /// <param name="logger">Where distinct errors are logged once each.</param>
    /// <param name="handler">The HTTP handler to send through; null: a pooled <see cref="SocketsHttpHandler"/>. Not disposed.</param>
    /// <exception cref="ArgumentException">An option is invalid; the message names every bad option.</exception>
    public Emulator(EmulatorOptions options, ISourceDatabase source, PipelineNames names, ILogger<Emulator>? logger = null, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(names);
        SettingsProblems.ThrowIfAny(new SettingsProblems().Add(options.Validate())
            .Check(!string.IsNullOrWhiteSpace(names.UserId), "UserId: the pipeline's user id is empty.").ToList(), nameof(options));
        _options = options;
        Seed = options.Seed ?? Random.Shared.Next();
        _source = source;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _handler = handler;
        _streamLane = options.Lane == EmulatorLane.Stream;
        var baseUrl = options.ApiUrl.TrimEnd('/');
        _targets = _streamLane
            ? [.. names.Streams.Select(s => Target.ForStream(baseUrl, s, options.RecordsPerRequest == 1))]
            : [.. names.Topics.Select(t => Target.ForTopic(baseUrl, t))];
    }

    /// <summary>The seed of this run's random row choice: <see cref="EmulatorOptions.Seed"/>, or a fresh one when that is null. The same seed posts the same rows again.</summary>
    public int Seed { get; }

    /// <summary>The counters right now; safe to call from any thread at any time.</summary>
    public EmulatorStats Snapshot()
    {
        var start = Interlocked.Read(ref _startTimestamp);
        var end = Interlocked.Read(ref _endTimestamp);
        var elapsed = start == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(start, end != 0 ? end : Stopwatch.GetTimestamp());
        return new EmulatorStats(
            Interlocked.Read(ref _posts), _options.Count, Interlocked.Read(ref _requests), Interlocked.Read(ref _sent),
            Interlocked.Read(ref _acknowledged), Interlocked.Read(ref _failed), Interlocked.Read(ref _retries),
            Interlocked.Read(ref _inFlight), Interlocked.Read(ref _missing), elapsed);
    }

    /// <summary>
    /// Runs until <see cref="EmulatorOptions.Count"/> posts are sent, <see cref="EmulatorOptions.Duration"/>
    /// has passed or <paramref name="cancellationToken"/> is cancelled, and returns the totals.
    /// </summary>
    /// <exception cref="SourceException">The source has no posts (<c>source.empty</c>) or cannot be reached.</exception>
    /// <exception cref="InvalidOperationException">
    /// The instance already ran, or reading the source failed mid-run (after the records taken so far were sent).
    /// </exception>
    public async Task<EmulatorResult> RunAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("An Emulator runs once; create a new one for another run.");
        Interlocked.Exchange(ref _startTimestamp, Stopwatch.GetTimestamp());
        try
        {
            if (_options.Count == 0) return Result();
            var range = await _source.GetIndexRangeAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new SourceException("source.empty", ErrorKind.Failed,
                    $"The source database ({_source.Provider}) has no posts: pinterest_data is empty or missing. Seed it first (pinpipe seed).");

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (_options.Duration is { } duration) stop.CancelAfter(duration);
            using var abort = new CancellationTokenSource();
            await using var onCancel = cancellationToken.Register(() => abort.CancelAfter(DrainTimeout)).ConfigureAwait(false);

            var ownHandler = _handler is null;
#pragma warning disable CA2000 // an own handler is disposed by the client (disposeHandler: ownHandler); a given one is the caller's
            var handler = _handler ?? new SocketsHttpHandler
            {
                MaxConnectionsPerServer = _options.Concurrency,
                PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
                ConnectTimeout = TimeSpan.FromSeconds(10),
                UseCookies = false,
                SslOptions = TrustedRoots(_options.CaFile),
            };
#pragma warning restore CA2000
            using var client = new HttpClient(handler, disposeHandler: ownHandler) { Timeout = RequestTimeout };

            var posts = Channel.CreateBounded<EncodedPost>(new BoundedChannelOptions(FetchBatch * 2) { SingleWriter = true, SingleReader = true });
            var requests = Channel.CreateBounded<RequestWork>(new BoundedChannelOptions(_options.Concurrency) { SingleWriter = true });

            var fetch = Task.Run(() => FetchAsync(range.Min, range.Max, posts.Writer, stop.Token), CancellationToken.None);
            var dispatch = Task.Run(() => DispatchAsync(posts.Reader, requests.Writer, stop.Token, abort.Token), CancellationToken.None);
            var workers = new Task[_options.Concurrency];
            for (var i = 0; i < workers.Length; i++)
            {
#pragma warning disable CA2025 // every worker is awaited below (Task.WhenAll(workers)) before the client is disposed, also when the dispatcher faults
                workers[i] = Task.Run(() => WorkAsync(client, requests.Reader, abort.Token), CancellationToken.None);
#pragma warning restore CA2025
            }

            // Every task ends before the client and the token sources are disposed, even when one faults: a faulted
            // dispatcher completes the request queue (the workers send what it holds) and the fetch is stopped.
            await dispatch.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (dispatch.IsFaulted) await stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(workers).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var fetchError = await fetch.ConfigureAwait(false);
            await dispatch.ConfigureAwait(false); // the first failure, if any, is the dispatcher's
            await Task.WhenAll(workers).ConfigureAwait(false);
            if (fetchError is not null)
            {
                throw new InvalidOperationException($"Reading posts from the source database ({_source.Provider}) failed: {fetchError.Message}", fetchError);
            }

            return Result();
        }
        finally
        {
            Interlocked.Exchange(ref _endTimestamp, Stopwatch.GetTimestamp());
        }
    }

    private EmulatorResult Result()
    {
        var s = Snapshot();
        long notSent = Interlocked.Read(ref _postsNotSent);
        return new EmulatorResult(
            s.Posts, s.Requests, s.RecordsSent, s.RecordsAcknowledged, s.RecordsFailed, s.Retries, s.MissingRows, s.Elapsed,
            Micros(_latency.ValueAtPercentile(50)), Micros(_latency.ValueAtPercentile(90)),
            Micros(_latency.ValueAtPercentile(99)), Micros(_latency.Max),
            [.. _errors.Keys.Order(StringComparer.Ordinal)])
        {
            SourceRetries = Interlocked.Read(ref _sourceRetries),
            SourceUnavailable = TimeSpan.FromTicks(Interlocked.Read(ref _sourceUnavailableTicks)),
            PostsNotSent = notSent,
            SourceFailure = Volatile.Read(ref _sourceFailure) is { } failure
                ? $"{failure}; the run stopped taking posts after {s.Posts:N0}{(_options.Count is { } count ? $" of {count:N0}" : "")} posts"
                  + (notSent > 0 ? $": {notSent:N0} posts (up to {3 * notSent:N0} records) were not sent" : "")
                : null,
        };

        static TimeSpan Micros(long us) => TimeSpan.FromTicks(us * (TimeSpan.TicksPerMillisecond / 1000));
    }

    /// <summary>
    /// Draws random indexes (or, <see cref="EmulatorOrder.Sequential"/>, takes them in order), reads their posts in batches and
    /// encodes them; returns the error that stopped it, if any.
    /// </summary>
    private async Task<Exception?> FetchAsync(long min, long max, ChannelWriter<EncodedPost> writer, CancellationToken stop)
    {
        var random = new Random(Seed);
        bool sequential = _options.Order == EmulatorOrder.Sequential;
        long next = min; // sequential: the lowest index not read yet
        var remaining = _options.Count ?? long.MaxValue;
        var emptyFetches = 0;
        try
        {
            while (remaining > 0)
            {
                long[] indexes;
                if (sequential)
                {
                    if (next > max) break; // every row was taken
                    indexes = new long[(int)Math.Min(Math.Min(FetchBatch, remaining), max - next + 1)];
                    for (var i = 0; i < indexes.Length; i++) indexes[i] = next + i;
                    next += indexes.Length;
                }
                else
                {
                    indexes = new long[(int)Math.Min(FetchBatch, remaining)];
                    for (var i = 0; i < indexes.Length; i++) indexes[i] = random.NextInt64(min, max + 1);
                }
                var found = await ReadPostsAsync(indexes, stop).ConfigureAwait(false);
                if (found is null)
                {
                    // The source database stayed unreadable too long: what was taken is sent, the rest is not.
                    if (_options.Count is not null) Interlocked.Exchange(ref _postsNotSent, remaining);
                    return null;
                }
                if (sequential) found = [.. found.OrderBy(p => p.Pin.Index)]; // a source answers in any order
                if (found.Count == 0)
                {
                    if (sequential) continue; // a gap in the indexes: the next ones follow
                    if (++emptyFetches >= MaxEmptyFetches)
                    {
                        throw new InvalidOperationException(
                            $"{MaxEmptyFetches} batches of random indexes in [{min}, {max}] found no post; pinterest_data.index is too sparse to sample.");
                    }

                    continue;
                }

                emptyFetches = 0;
                foreach (var post in found)
                {
                    if (remaining == 0) break;
                    var encoded = new EncodedPost(
                        post.Pin.Index,
                        _encoder.Pin(post.Pin),
                        post.Geo is null ? null : _encoder.Geo(post.Geo),
                        post.User is null ? null : _encoder.User(post.User));
                    await writer.WriteAsync(encoded, stop).ConfigureAwait(false);
                    remaining--;
                }
            }

            return null;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return null;
        }
#pragma warning disable CA1031 // the error is handed to RunAsync, which ends the run and rethrows it wrapped
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _logger.LogError(ex, "Reading posts from the source database failed; stopping after the posts already taken.");
            return ex;
        }
        finally
        {
            writer.TryComplete();
        }
    }

    /// <summary>
    /// The posts of <paramref name="indexes"/>, waiting out an outage of the source database: a read that fails as a lost or
    /// refused connection does is retried after a backoff (200 ms doubled, at most 5 s), one warning line each, until it
    /// succeeds or the outage has lasted <see cref="EmulatorOptions.MaxSourceOutage"/>; then null, the reason kept for the result.
    /// </summary>
    private async Task<IReadOnlyList<SourcePost>?> ReadPostsAsync(long[] indexes, CancellationToken stop)
    {
        long since = 0; // when the outage began (0: none)
        for (int failures = 0; ;)
        {
            try
            {
                var found = await _source.GetPostsAsync(indexes, stop).ConfigureAwait(false);
                if (since != 0)
                {
                    TimeSpan outage = Stopwatch.GetElapsedTime(since);
                    Interlocked.Add(ref _sourceUnavailableTicks, outage.Ticks);
                    _logger.LogInformation("The source database ({Provider}) answers again, after {Outage} ({Retries} retries).", _source.Provider, Retry.Format(outage), failures);
                }
                return found;
            }
            catch (Exception ex) when (IsSourceOutage(ex) && !stop.IsCancellationRequested)
            {
                if (since == 0) since = Stopwatch.GetTimestamp();
                failures++;
                TimeSpan down = Stopwatch.GetElapsedTime(since);
                TimeSpan left = _options.MaxSourceOutage - down;
                if (left <= TimeSpan.Zero)
                {
                    Interlocked.Add(ref _sourceUnavailableTicks, down.Ticks);
                    Volatile.Write(ref _sourceFailure, $"the source database ({_source.Provider}) could not be read for {Retry.Format(down)} (Emulator:MaxSourceOutage {Durations.Text(_options.MaxSourceOutage)}): {Retry.Describe(ex)}");
                    _logger.LogDebug(ex, "Reading posts from the source database: gave up after {Failures} failures.", failures);
                    return null;
                }
                TimeSpan delay = Retry.Delay(failures, SourceRetryDelay);
                if (delay > MaxSourceRetryDelay) delay = MaxSourceRetryDelay;
                if (delay > left) delay = left;
                Interlocked.Increment(ref _sourceRetries);
                Retry.LogRetry(_logger, $"Reading posts from the source database ({_source.Provider})", ex, failures, delay);
                await Task.Delay(delay, stop).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// True for a failure of the source database that may pass: a connection that cannot be made (<c>source.unreachable</c>)
    /// or that broke (the driver's <see cref="System.Data.Common.DbException"/>, an I/O or socket error, a timeout).
    /// </summary>
    private static bool IsSourceOutage(Exception e) =>
        e is SourceException { IsRetriable: true } or System.Data.Common.DbException or IOException or System.Net.Sockets.SocketException or TimeoutException;

    /// <summary>Paces posts, groups their records per topic into requests and queues them for the workers.</summary>
    private async Task DispatchAsync(ChannelReader<EncodedPost> posts, ChannelWriter<RequestWork> requests, CancellationToken stop, CancellationToken abort)
    {
        var pacer = _options.Rate is > 0 and var rate ? new RatePacer(rate) : null;
        var size = _options.RecordsPerRequest;
        var buffers = new List<PendingRecord>?[_targets.Length];
        var oldest = new long[_targets.Length];
        var lingerTicks = (long)(Linger.TotalSeconds * Stopwatch.Frequency);
        try
        {
            try
            {
                while (true)
                {
                    if (!posts.TryRead(out var post))
                    {
                        // Nothing waiting: send what is buffered rather than hold it while the source catches up.
                        await FlushAsync(-1).ConfigureAwait(false);
                        if (!await posts.WaitToReadAsync(stop).ConfigureAwait(false)) break;
                        continue;
                    }

                    if (pacer is not null) await pacer.WaitAsync(stop).ConfigureAwait(false);
                    Interlocked.Increment(ref _posts);
                    await AddAsync(0, post.Pin, post.Index).ConfigureAwait(false);
                    if (post.Geo is { } geo) await AddAsync(1, geo, post.Index).ConfigureAwait(false);
                    else Interlocked.Increment(ref _missing);
                    if (post.User is { } user) await AddAsync(2, user, post.Index).ConfigureAwait(false);
                    else Interlocked.Increment(ref _missing);
                    if (size > 1) await FlushAsync(Stopwatch.GetTimestamp() - lingerTicks).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Duration over or cancelled: stop taking posts, send what was taken.
            }

            await FlushAsync(-1).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            // Drain time over: buffered records stay unsent and count as lost.
        }
        finally
        {
            requests.TryComplete();
        }

        async ValueTask AddAsync(int target, byte[] raw, long index)
        {
            var buffer = buffers[target] ??= new List<PendingRecord>(size);
            if (buffer.Count == 0) oldest[target] = Stopwatch.GetTimestamp();
            buffer.Add(new PendingRecord(raw, index));
            if (buffer.Count >= size) await EmitAsync(target).ConfigureAwait(false);
        }

        // Emits every non-empty buffer whose oldest record is older than the cut-off (-1: all).
        async ValueTask FlushAsync(long cutoff)
        {
            for (var t = 0; t < buffers.Length; t++)
            {
                if (buffers[t] is { Count: > 0 } && (cutoff < 0 || oldest[t] <= cutoff)) await EmitAsync(t).ConfigureAwait(false);
            }
        }

        async ValueTask EmitAsync(int target)
        {
            var records = buffers[target]!;
            buffers[target] = null;
            Interlocked.Add(ref _sent, records.Count);
            await requests.WriteAsync(new RequestWork(_targets[target], records), abort).ConfigureAwait(false);
        }
    }

    /// <summary>TLS options that trust only the CA certificates of <paramref name="caFile"/> (a PEM file); the defaults when null.</summary>
    /// <exception cref="ArgumentException">The file holds no certificate.</exception>
    private static System.Net.Security.SslClientAuthenticationOptions TrustedRoots(string? caFile)
    {
        if (caFile is null) return new();
        var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        roots.ImportFromPemFile(caFile);
        if (roots.Count == 0) throw new ArgumentException($"Emulator:CaFile: '{caFile}' holds no PEM certificate.", nameof(caFile));
        var policy = new System.Security.Cryptography.X509Certificates.X509ChainPolicy
        {
            TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust,
            RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
        };
        policy.CustomTrustStore.AddRange(roots);
        return new() { CertificateChainPolicy = policy };
    }

    private async Task WorkAsync(HttpClient client, ChannelReader<RequestWork> requests, CancellationToken abort)
    {
        while (await requests.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            while (requests.TryRead(out var work))
            {
                await SendAsync(client, work, abort).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Sends one request, retrying what failed retriably, until every record is acknowledged or given up on.</summary>
    private async Task SendAsync(HttpClient client, RequestWork work, CancellationToken abort)
    {
        var records = work.Records;
        int attempt = 0, sheds = 0;
        while (true)
        {
            var outcome = await AttemptAsync(client, work.Target, records, abort).ConfigureAwait(false);
            if (outcome.Acknowledged > 0) Interlocked.Add(ref _acknowledged, outcome.Acknowledged);
            if (outcome.Failed is not { Count: > 0 } failed) return;

            var error = outcome.Error ?? "unknown error";
            // A shed answer does not use up an attempt (the server said when to come back), up to MaxShedRetries of them.
            if (outcome.Shed) sheds++;
            else attempt++;
            var exhausted = outcome.Shed ? sheds > MaxShedRetries : attempt >= _options.MaxAttempts;
            if (!outcome.Retriable || exhausted || abort.IsCancellationRequested)
            {
                Interlocked.Add(ref _failed, failed.Count);
                NoteError(!outcome.Retriable ? $"{work.Target.Name}: {error}"
                    : outcome.Shed ? $"{work.Target.Name}: gave up after {MaxShedRetries} answers asking to retry later (Retry-After): {error}"
                    : $"{work.Target.Name}: gave up after {attempt} attempt(s): {error}");
                return;
            }

            Interlocked.Increment(ref _retries);
            try
            {
                await Task.Delay(Backoff(Math.Max(1, attempt), outcome.RetryAfter), abort).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Add(ref _failed, failed.Count);
                NoteError($"{work.Target.Name}: not retried, the run was cancelled: {error}");
                return;
            }

            records = failed;
        }
    }

    private TimeSpan Backoff(int attempt, TimeSpan? retryAfter)
    {
        var ceiling = Math.Min(_options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1), MaxBackoff.TotalMilliseconds);
        var delay = TimeSpan.FromMilliseconds(ceiling / 2 + Random.Shared.NextDouble() * ceiling / 2);
        if (retryAfter is { } after)
        {
            // Retry-After and up to half as much again: clients shed together do not all come back at the same instant.
            var spread = after * (1 + Random.Shared.NextDouble() / 2);
            if (spread > delay) delay = spread < RequestTimeout ? spread : RequestTimeout;
        }
        return delay;
    }

    private void NoteError(string message)
    {
        if (_errors.Count < MaxDistinctErrors && _errors.TryAdd(message, 0))
        {
            _logger.LogWarning("Emulator: {Error}", message);
        }
    }

    /// <summary>One post's records, encoded (geo or user null when the source lacks the row).</summary>
    private sealed record EncodedPost(long Index, byte[] Pin, byte[]? Geo, byte[]? User);

    /// <summary>One raw record waiting to be sent.</summary>
    internal readonly record struct PendingRecord(byte[] Raw, long Index);

    /// <summary>Records for one topic or stream, sent in one request.</summary>
    private sealed record RequestWork(Target Target, List<PendingRecord> Records);
}
