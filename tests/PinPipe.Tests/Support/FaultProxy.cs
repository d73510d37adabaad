using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PinPipe.Tests.Support;

/// <summary>What <see cref="FaultProxy"/> does to a request instead of forwarding it faithfully.</summary>
public enum Fault
{
    /// <summary>Forwarded, the answer sent back as it came.</summary>
    None,
    /// <summary>Not forwarded: answered <c>500 Internal Server Error</c> with S3's XML error body (<c>InternalError</c>).</summary>
    InternalError,
    /// <summary>Not forwarded: answered <c>503 Slow Down</c> with S3's XML error body (<c>SlowDown</c>), as S3 throttles.</summary>
    SlowDown,
    /// <summary>Forwarded (the server acts on it), but the answer is never sent: the connection stays open and silent until the client gives up.</summary>
    Stall,
    /// <summary>Not forwarded: the connection is reset (TCP RST) after the request's head, while the client sends.</summary>
    ResetMidRequest,
    /// <summary>Forwarded (the server acts on it); half of the answer's body (of its head when it has none) is sent, then the connection is reset (TCP RST).</summary>
    ResetMidResponse,
    /// <summary>Forwarded; the answer is sent slowly (a pause first, then a few bytes at a time), yet within the client's timeout.</summary>
    Slow,
    /// <summary>
    /// Forwarded; the answer's <c>ETag</c> is replaced by one that is not an MD5 in hex (<c>"opaque"</c>), as some S3-compatible
    /// stores and gateways send (and s3rver did for an object being rewritten). Only when asked for (<see cref="FaultProxy.Inject"/>),
    /// never drawn from the rates.
    /// </summary>
    OpaqueETag,
}

/// <summary>How often <see cref="FaultProxy"/> injects each fault: each a fraction of the requests (0 to 1, together at most 1).</summary>
public sealed record FaultRates(double InternalError = 0, double SlowDown = 0, double Stall = 0, double ResetMidRequest = 0, double ResetMidResponse = 0, double Slow = 0)
{
    /// <summary>No fault: every request forwarded.</summary>
    public static FaultRates None { get; } = new();

    /// <summary>The faults drawn from rates (every fault but <see cref="Fault.None"/> and <see cref="Fault.OpaqueETag"/>, which is only injected when asked for).</summary>
    public static IReadOnlyList<Fault> Drawn { get; } = [Fault.InternalError, Fault.SlowDown, Fault.Stall, Fault.ResetMidRequest, Fault.ResetMidResponse, Fault.Slow];

    /// <summary>The same <paramref name="rate"/> of each of the six faults.</summary>
    public static FaultRates Each(double rate) => new(rate, rate, rate, rate, rate, rate);

    internal Fault Pick(double draw)
    {
        foreach (var (fault, rate) in new[] { (Fault.InternalError, InternalError), (Fault.SlowDown, SlowDown), (Fault.Stall, Stall),
            (Fault.ResetMidRequest, ResetMidRequest), (Fault.ResetMidResponse, ResetMidResponse), (Fault.Slow, Slow) })
        {
            if (draw < rate) return fault;
            draw -= rate;
        }
        return Fault.None;
    }
}

/// <summary>
/// A proxy on loopback that injects faults, in front of a real server. Two modes:
/// <list type="bullet">
/// <item><b>HTTP</b> (<see cref="Http"/>, in front of s3rver): it reads each request whole (head, then its body by
/// <c>Content-Length</c> or chunked), and, by <see cref="Rates"/> drawn from a seeded <see cref="Random"/> (per request,
/// so a client's pooled connections do not blur the rates), answers 500 <c>InternalError</c> or 503 <c>SlowDown</c> in S3's
/// XML error shape, stalls the answer, resets the connection while the request comes in or half-way through the answer,
/// answers slowly, or forwards it as it came (the Host header too, so the client's SigV4 signature holds). Every
/// connection carries one request: the request goes to the server with <c>Connection: close</c> on a connection of its
/// own, and the answer comes back with <c>Connection: close</c>, so the client opens a new connection for the next one.
/// <c>Expect: 100-continue</c> is answered by the proxy. Requests and answers are held in memory whole: for the small
/// objects of tests.</item>
/// <item><b>TCP</b> (<see cref="Tcp"/>, in front of a database): bytes are forwarded both ways, no fault but
/// <see cref="Cut"/>: every open connection is reset and new ones are reset at once, until <see cref="Restore"/>.</item>
/// </list>
/// It counts what it injected (<see cref="Injected"/>).
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private static readonly TimeSpan SlowPause = TimeSpan.FromMilliseconds(300);
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly bool _http;
    private readonly CancellationTokenSource _stop = new();
    private readonly Random _random;
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<Fault, int> _injected = new();
    private readonly ConcurrentDictionary<Socket, byte> _open = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;
    private readonly ConcurrentQueue<Fault> _first;
    private int _requests;
    private int _inFlight;
    private volatile bool _cut;

    private FaultProxy(Uri target, bool http, FaultRates rates, int seed, IEnumerable<Fault> first)
    {
        _target = new IPEndPoint(Dns.GetHostAddresses(target.Host).First(a => a.AddressFamily == AddressFamily.InterNetwork), target.Port);
        _http = http;
        Rates = rates;
        _random = new Random(seed);
        _first = new ConcurrentQueue<Fault>(first);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>
    /// An HTTP proxy in front of <paramref name="target"/> (<c>http://127.0.0.1:14568</c>) that gives the first requests the
    /// faults of <paramref name="first"/>, in order, then injects faults at <paramref name="rates"/>, drawn from a
    /// <see cref="Random"/> of <paramref name="seed"/>.
    /// </summary>
    public static FaultProxy Http(Uri target, FaultRates rates, int seed = 1, params Fault[] first) => new(target, http: true, rates, seed, first);

    /// <summary>An HTTP proxy that answers the first <paramref name="requests"/> requests 503 <c>SlowDown</c>, as an overloaded S3 endpoint does, and forwards the rest.</summary>
    public static FaultProxy SlowDownFirst(Uri target, int requests) => new(target, http: true, FaultRates.None, seed: 1, Enumerable.Repeat(Fault.SlowDown, requests));

    /// <summary>A TCP proxy in front of <paramref name="host"/>:<paramref name="port"/> that forwards bytes until <see cref="Cut"/>.</summary>
    public static FaultProxy Tcp(string host, int port) => new(new Uri($"tcp://{host}:{port}"), http: false, FaultRates.None, seed: 1, []);

    /// <summary>The proxy's URL (<c>http://127.0.0.1:port</c>), to use as the endpoint.</summary>
    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>The proxy's port on 127.0.0.1.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The fault rates for the requests to come (HTTP mode); may be changed at any time.</summary>
    public FaultRates Rates { get; set; }

    /// <summary>Requests read so far (HTTP mode).</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Requests read whose connection is still open (HTTP mode): a stalled one until its client gives up.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Requests that got <paramref name="fault"/> so far.</summary>
    public int Injected(Fault fault) => _injected.GetValueOrDefault(fault);

    /// <summary>Requests that failed through the proxy so far: every fault but <see cref="Fault.Slow"/>.</summary>
    public int Failures => Enum.GetValues<Fault>().Where(f => f is not (Fault.None or Fault.Slow)).Sum(Injected);

    /// <summary>What was injected, for messages: <c>InternalError 3, SlowDown 2, ...</c> of how many requests.</summary>
    public string Summary => string.Join(", ", Enum.GetValues<Fault>().Where(f => f != Fault.None).Select(f => $"{f} {Injected(f)}")) + $" of {Requests} requests";

    /// <summary>Gives the next requests (after any given before) the faults of <paramref name="faults"/>, in order.</summary>
    public void Inject(params Fault[] faults)
    {
        foreach (Fault fault in faults) _first.Enqueue(fault);
    }

    /// <summary>Resets every open connection, and every new one at once, until <see cref="Restore"/>: the server as gone for the client.</summary>
    public void Cut()
    {
        _cut = true;
        foreach (var socket in _open.Keys) Reset(socket);
    }

    /// <summary>Forwards new connections again after <see cref="Cut"/>.</summary>
    public void Restore() => _cut = false;

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                Socket client = await _listener.AcceptSocketAsync(_stop.Token);
                if (_cut)
                {
                    Reset(client);
                    continue;
                }
                lock (_connections)
                {
                    _connections.RemoveAll(t => t.IsCompleted);
                    _connections.Add(_http ? HandleHttpAsync(client) : ForwardTcpAsync(client));
                }
            }
        }
        catch (OperationCanceledException) { }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    private Fault Next()
    {
        Interlocked.Increment(ref _requests);
        if (_first.TryDequeue(out Fault scripted)) return scripted;
        FaultRates rates = Rates;
        double draw;
        lock (_gate) draw = _random.NextDouble();
        return rates.Pick(draw);
    }

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0); // close sends RST
            socket.Close();
        }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    // ------------------------------------------------------------------ HTTP

    private async Task HandleHttpAsync(Socket client)
    {
        _open.TryAdd(client, 0);
        var token = _stop.Token;
        bool counted = false;
        try
        {
            var reader = new Reader(client);
            string? head = await reader.ReadHeadAsync(token);
            if (head is null) return;
            Interlocked.Increment(ref _inFlight);
            counted = true;
            Fault fault = Next();
            _injected.AddOrUpdate(fault, 1, (_, n) => n + 1);
            if (fault == Fault.ResetMidRequest)
            {
                Reset(client);
                return;
            }
            var headers = Headers(head);
            if (headers.TryGetValue("Expect", out var expect) && expect.Equals("100-continue", StringComparison.OrdinalIgnoreCase))
                await client.SendAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), token);
            byte[] body = await reader.ReadBodyAsync(headers, token);
            if (fault is Fault.InternalError or Fault.SlowDown)
            {
                await AnswerErrorAsync(client, fault, token);
                return;
            }
            byte[] answer = await ForwardAsync(Rewrite(head, drop: ["Connection", "Keep-Alive", "Expect", "Proxy-Connection"]), body, token);
            answer = CloseAfter(answer, fault == Fault.OpaqueETag ? "\"opaque\"" : null);
            switch (fault)
            {
                case Fault.Stall:
                    // The server acted on the request; its answer never comes. Wait until the client gives up.
                    var sink = new byte[1024];
                    while (await client.ReceiveAsync(sink, token) > 0) { }
                    return;
                case Fault.ResetMidResponse:
                    // Half of the body when there is one (the status and headers arrive whole), else half of the head.
                    int headLength = IndexOf(answer, "\r\n\r\n"u8) + 4;
                    bool hasBody = headLength > 3 && answer.Length > headLength;
                    await client.SendAsync(answer.AsMemory(0, hasBody ? headLength + (answer.Length - headLength) / 2 : Math.Max(1, answer.Length / 2)), token);
                    await Task.Delay(20, token);
                    Reset(client);
                    return;
                case Fault.Slow:
                    await Task.Delay(SlowPause, token);
                    for (int at = 0; at < answer.Length; at += 1024)
                    {
                        await client.SendAsync(answer.AsMemory(at, Math.Min(1024, answer.Length - at)), token);
                        await Task.Delay(5, token);
                    }
                    break;
                default:
                    await client.SendAsync(answer, token);
                    break;
            }
            await CloseAsync(client, token);
        }
        catch (SocketException) { }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
        catch (OperationCanceledException) { }
        finally
        {
            _open.TryRemove(client, out _);
            client.Dispose();
            if (counted) Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>Sends the request to the server on a connection of its own and returns the whole answer (the server closes after it).</summary>
    private async Task<byte[]> ForwardAsync(string head, byte[] body, CancellationToken token)
    {
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await server.ConnectAsync(_target, token);
        await server.SendAsync(Encoding.ASCII.GetBytes(head), token);
        if (body.Length > 0) await server.SendAsync(body, token);
        using var answer = new MemoryStream();
        var buffer = new byte[65536];
        int n;
        while ((n = await server.ReceiveAsync(buffer, token)) > 0) await answer.WriteAsync(buffer.AsMemory(0, n), token);
        return answer.ToArray();
    }

    /// <summary>S3's error answer for the fault, in its XML shape, then the connection closed.</summary>
    private static async Task AnswerErrorAsync(Socket client, Fault fault, CancellationToken token)
    {
        var (status, code, message) = fault == Fault.SlowDown
            ? ("503 Slow Down", "SlowDown", "Please reduce your request rate.")
            : ("500 Internal Server Error", "InternalError", "We encountered an internal error. Please try again.");
        string requestId = Guid.NewGuid().ToString("N")[..16].ToUpperInvariant();
        byte[] xml = Encoding.UTF8.GetBytes($"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{requestId}</RequestId><HostId>fault-proxy</HostId></Error>");
        string head = $"HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nx-amz-request-id: {requestId}\r\nContent-Length: {xml.Length.ToString(CultureInfo.InvariantCulture)}\r\nConnection: close\r\n\r\n";
        await client.SendAsync(Encoding.ASCII.GetBytes(head), token);
        await client.SendAsync(xml, token);
        await CloseAsync(client, token);
    }

    /// <summary>Ends the connection without a reset: no more sending, then wait (briefly) for the client to close its side.</summary>
    private static async Task CloseAsync(Socket client, CancellationToken token)
    {
        client.Shutdown(SocketShutdown.Send);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(token);
        wait.CancelAfter(TimeSpan.FromSeconds(5));
        var sink = new byte[1024];
        try
        {
            while (await client.ReceiveAsync(sink, wait.Token) > 0) { }
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested) { }
    }

    /// <summary>The answer with <c>Connection: close</c> in place of any connection header.</summary>
    private static byte[] CloseAfter(byte[] answer, string? etag = null)
    {
        int end = IndexOf(answer, "\r\n\r\n"u8);
        if (end < 0) return answer;
        string head = Encoding.ASCII.GetString(answer, 0, end + 4);
        string rewritten = Rewrite(head, drop: etag is null ? ["Connection", "Keep-Alive"] : ["Connection", "Keep-Alive", "ETag"]);
        if (etag is not null) rewritten = rewritten.Insert(rewritten.Length - 2, $"ETag: {etag}\r\n");
        byte[] newHead = Encoding.ASCII.GetBytes(rewritten);
        return [.. newHead, .. answer.AsSpan(end + 4)];
    }

    /// <summary>The head (request or status line and headers, ending in an empty line) without the <paramref name="drop"/> headers and with <c>Connection: close</c>.</summary>
    private static string Rewrite(string head, string[] drop)
    {
        var lines = head.Split("\r\n").Where(l => l.Length > 0).ToList();
        var kept = lines.Take(1).Concat(lines.Skip(1).Where(l => !drop.Any(d => l.StartsWith(d + ":", StringComparison.OrdinalIgnoreCase))));
        return string.Join("\r\n", kept) + "\r\nConnection: close\r\n\r\n";
    }

    private static Dictionary<string, string> Headers(string head)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in head.Split("\r\n").Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        return headers;
    }

    private static int IndexOf(ReadOnlySpan<byte> data, ReadOnlySpan<byte> what) => data.IndexOf(what);

    /// <summary>Reads an HTTP request off a socket: its head, then its body as the head frames it (raw bytes, chunked framing kept).</summary>
    private sealed class Reader(Socket socket)
    {
        private readonly byte[] _buffer = new byte[65536];
        private int _start, _end;

        private async Task<bool> FillAsync(CancellationToken token)
        {
            if (_start > 0 && _start == _end) _start = _end = 0;
            if (_end == _buffer.Length)
            {
                Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            int n = await socket.ReceiveAsync(_buffer.AsMemory(_end), token);
            _end += n;
            return n > 0;
        }

        /// <summary>The head up to and with its empty line, or null when the client closed first.</summary>
        public async Task<string?> ReadHeadAsync(CancellationToken token)
        {
            while (true)
            {
                int end = IndexOf(_buffer.AsSpan(_start, _end - _start), "\r\n\r\n"u8);
                if (end >= 0)
                {
                    string head = Encoding.ASCII.GetString(_buffer, _start, end + 4);
                    _start += end + 4;
                    return head;
                }
                if (!await FillAsync(token)) return null;
            }
        }

        public async Task<byte[]> ReadBodyAsync(Dictionary<string, string> headers, CancellationToken token)
        {
            using var body = new MemoryStream();
            if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                while (true)
                {
                    string line = await ReadLineAsync(body, token);
                    int size = int.Parse(line.Split(';')[0].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    if (size == 0)
                    {
                        while ((await ReadLineAsync(body, token)).Length > 0) { } // trailers, then the empty line
                        return body.ToArray();
                    }
                    await CopyAsync(body, size + 2, token); // the chunk and its CRLF
                }
            }
            long length = headers.TryGetValue("Content-Length", out var text) ? long.Parse(text, CultureInfo.InvariantCulture) : 0;
            await CopyAsync(body, length, token);
            return body.ToArray();
        }

        private async Task<string> ReadLineAsync(MemoryStream copy, CancellationToken token)
        {
            while (true)
            {
                int end = IndexOf(_buffer.AsSpan(_start, _end - _start), "\r\n"u8);
                if (end >= 0)
                {
                    string line = Encoding.ASCII.GetString(_buffer, _start, end);
                    await copy.WriteAsync(_buffer.AsMemory(_start, end + 2), token);
                    _start += end + 2;
                    return line;
                }
                if (!await FillAsync(token)) throw new IOException("the client closed the connection within a chunked body");
            }
        }

        private async Task CopyAsync(MemoryStream copy, long count, CancellationToken token)
        {
            while (count > 0)
            {
                if (_start == _end && !await FillAsync(token)) throw new IOException("the client closed the connection within the body");
                int n = (int)Math.Min(count, _end - _start);
                await copy.WriteAsync(_buffer.AsMemory(_start, n), token);
                _start += n;
                count -= n;
            }
        }
    }

    // ------------------------------------------------------------------ TCP

    private async Task ForwardTcpAsync(Socket client)
    {
        _open.TryAdd(client, 0);
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await server.ConnectAsync(_target, _stop.Token);
            _open.TryAdd(server, 0);
            if (_cut)
            {
                Reset(client);
                Reset(server);
                return;
            }
            await Task.WhenAny(PipeAsync(client, server), PipeAsync(server, client));
        }
        catch (SocketException) { }
        catch (OperationCanceledException) { }
        catch (ObjectDisposedException) { }
        finally
        {
            _open.TryRemove(client, out _);
            _open.TryRemove(server, out _);
            client.Dispose();
        }
    }

    private async Task PipeAsync(Socket from, Socket to)
    {
        var buffer = new byte[65536];
        try
        {
            while (true)
            {
                int n = await from.ReceiveAsync(buffer, _stop.Token);
                if (n == 0) break;
                await to.SendAsync(buffer.AsMemory(0, n), _stop.Token);
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
        catch (OperationCanceledException) { }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        foreach (var socket in _open.Keys) Reset(socket);
        Task[] connections;
        lock (_connections) connections = [.. _connections];
        await Task.WhenAll(connections);
        _stop.Dispose();
    }
}
