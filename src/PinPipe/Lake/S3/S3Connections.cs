using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using PinPipe.Configuration;

namespace PinPipe.Lake.S3;

/// <summary>
/// The S3 client's HTTP connections: the AWS SDK's own settings (no automatic redirect, no decompression, its proxy),
/// and every connection abandoned once no byte has moved on it for <see cref="ObjectStoreOptions.SocketTimeout"/>.
/// </summary>
/// <remarks>
/// The SDK gives S3 clients an HTTP timeout of about 24 days (<c>ClientConfig.MaxTimeout</c>), which leaves a request
/// whose answer never comes waiting that long, and covers the body of a download not at all. A timeout of the whole
/// request would cut slow but healthy uploads of large objects instead. So the timeout here is one of the connection's
/// idleness, as the AWS SDK for Java's socket timeout: a read (the answer, its body) or a write (the request, its body)
/// that moves no byte within it fails with an <see cref="IOException"/> (inner <see cref="TimeoutException"/>), which the
/// store treats as a transient failure and retries.
/// </remarks>
internal sealed class S3Connections(TimeSpan socketTimeout) : HttpClientFactory
{
    public override HttpClient CreateHttpClient(IClientConfig clientConfig)
    {
        ArgumentNullException.ThrowIfNull(clientConfig);
#pragma warning disable CA2000 // the client owns the handler (disposeHandler: true)
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = clientConfig.AllowAutoRedirect,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = socketTimeout,
            UseCookies = false,
            ConnectCallback = ConnectAsync,
        };
#pragma warning restore CA2000
        if (clientConfig.MaxConnectionsPerServer is int max) handler.MaxConnectionsPerServer = max;
        if (clientConfig.GetWebProxy() is { } proxy)
        {
            if (clientConfig.ProxyCredentials is { } credentials) proxy.Credentials = credentials;
            handler.Proxy = proxy;
        }
        return new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
    }

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
#pragma warning disable CA2000 // disposed on failure; on success the stream owns it (ownsSocket: true)
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
#pragma warning restore CA2000
        try
        {
            socket.NoDelay = true;
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            return new StallTimeoutStream(new NetworkStream(socket, ownsSocket: true), socketTimeout, $"{context.DnsEndPoint.Host}:{context.DnsEndPoint.Port}");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>
/// A connection's stream whose reads and writes fail when no byte moves within the timeout. A write pushes back the
/// deadline of a read waiting meanwhile (the handler keeps a read pending on an idle pooled connection; the request
/// sent on it is what the answer is awaited from).
/// </summary>
internal sealed class StallTimeoutStream : Stream
{
    private readonly NetworkStream _inner;
    private readonly TimeSpan _timeout;
    private readonly string _endpoint;
    private CancellationTokenSource? _reading; // the pending read's timer

    public StallTimeoutStream(NetworkStream inner, TimeSpan timeout, string endpoint)
    {
        _inner = inner;
        _timeout = timeout;
        _endpoint = endpoint;
        int ms = (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
        _inner.ReadTimeout = ms; // the synchronous calls
        _inner.WriteTimeout = ms;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(_timeout);
        Volatile.Write(ref _reading, timer);
        try
        {
            return await _inner.ReadAsync(buffer, timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Stalled("waiting for the answer");
        }
        finally
        {
            Interlocked.CompareExchange(ref _reading, null, timer);
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        PushBackRead();
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(_timeout);
        try
        {
            await _inner.WriteAsync(buffer, timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Stalled("sending the request");
        }
        PushBackRead();
    }

    private void PushBackRead()
    {
        try
        {
            Volatile.Read(ref _reading)?.CancelAfter(_timeout);
        }
        catch (ObjectDisposedException)
        {
            // That read ended meanwhile.
        }
    }

    private IOException Stalled(string doing)
    {
        string message = $"no byte moved on the connection to {_endpoint} for {Durations.Text(_timeout)} while {doing} (ObjectStore:SocketTimeout)";
        return new IOException(message, new TimeoutException(message));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

    public override int Read(Span<byte> buffer) => _inner.Read(buffer);

    public override void Write(byte[] buffer, int offset, int count) => _inner.Write(buffer, offset, count);

    public override void Write(ReadOnlySpan<byte> buffer) => _inner.Write(buffer);

    public override void Flush() => _inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
