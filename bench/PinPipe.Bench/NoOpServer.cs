using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace PinPipe.Bench;

/// <summary>
/// The yardstick: Kestrel configured as the ingest API, with a produce route that reads the body and
/// answers a fixed REST Proxy response without parsing or storing anything.
/// </summary>
internal sealed class NoOpServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private NoOpServer(WebApplication app, Uri address) { _app = app; Address = address; }

    public Uri Address { get; }

    private static readonly byte[] Answer = """{"key_schema_id":null,"value_schema_id":null,"offsets":[{"partition":0,"offset":0,"error_code":null,"error":null}]}"""u8.ToArray();

    public static async Task<NoOpServer> StartAsync()
    {
        var builder = PinPipe.Ingest.IngestServer.CreateWebBuilder(); // the same host as the API's, so that only the route differs
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
        var app = builder.Build();
        app.MapPost("/topics/{topic}", async (HttpContext c) =>
        {
            var reader = c.Request.BodyReader;
            while (true)
            {
                var r = await reader.ReadAsync();
                reader.AdvanceTo(r.Buffer.End);
                if (r.IsCompleted) break;
            }
            c.Response.ContentType = "application/vnd.kafka.v2+json";
            c.Response.ContentLength = Answer.Length;
            await c.Response.Body.WriteAsync(Answer);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new NoOpServer(app, new Uri(address.TrimEnd('/') + "/"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
