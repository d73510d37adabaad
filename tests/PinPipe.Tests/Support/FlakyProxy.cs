using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PinPipe.Tests.Support;

/// <summary>
/// A TCP proxy on loopback in front of a real HTTP server (s3rver): it reads each of the first
/// <c>failures</c> connections' request and answers <c>503 Service Unavailable</c> (then closes it), as an
/// overloaded S3 endpoint does; every later connection is forwarded to the server both ways.
/// </summary>
public sealed class FlakyProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _failuresLeft;
    private int _answered503;

    /// <param name="target">The server's URL (<c>http://127.0.0.1:14568</c>).</param>
    /// <param name="failures">Connections answered 503 before forwarding starts.</param>
    public FlakyProxy(Uri target, int failures)
    {
        _target = new IPEndPoint(IPAddress.Parse(target.Host), target.Port);
        _failuresLeft = failures;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>The proxy's URL.</summary>
    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Requests answered 503 so far.</summary>
    public int Answered503 => Volatile.Read(ref _answered503);

    private async Task AcceptAsync()
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                Socket client = await _listener.AcceptSocketAsync(_stop.Token);
                connections.Add(Interlocked.Decrement(ref _failuresLeft) >= 0 ? FailAsync(client) : ForwardAsync(client));
            }
        }
        catch (OperationCanceledException) { }
        catch (SocketException) { }
        await Task.WhenAll(connections);
    }

    private async Task FailAsync(Socket client)
    {
        using (client)
        {
            try
            {
                await ReadRequestAsync(client);
                await client.SendAsync("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), _stop.Token);
                Interlocked.Increment(ref _answered503);
                client.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException) { }
            catch (OperationCanceledException) { }
        }
    }

    /// <summary>Reads a request's head and its body (Content-Length), so that closing the socket sends no reset.</summary>
    private async Task ReadRequestAsync(Socket client)
    {
        var head = new StringBuilder();
        var buffer = new byte[8192];
        int bodyRead = 0;
        while (true)
        {
            int n = await client.ReceiveAsync(buffer, _stop.Token);
            if (n == 0) return;
            head.Append(Encoding.ASCII.GetString(buffer, 0, n));
            string text = head.ToString();
            int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0) continue;
            int length = 0;
            foreach (string line in text[..end].Split("\r\n"))
                if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) length = int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            bodyRead = text.Length - end - 4;
            while (bodyRead < length)
            {
                n = await client.ReceiveAsync(buffer, _stop.Token);
                if (n == 0) return;
                bodyRead += n;
            }
            return;
        }
    }

    private async Task ForwardAsync(Socket client)
    {
        using (client)
        using (var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            try
            {
                await server.ConnectAsync(_target, _stop.Token);
                await Task.WhenAny(PipeAsync(client, server), PipeAsync(server, client));
            }
            catch (SocketException) { }
            catch (OperationCanceledException) { }
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
        _stop.Dispose();
    }
}
