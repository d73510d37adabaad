using System.Net;
using System.Text.Json;
using PinPipe.Hosting;
using PinPipe.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Ingest;

/// <summary>
/// <c>DELETE /streams/{stream}</c> on the API as <c>pinpipe serve</c> composes it (the stream job's consumer group from
/// the settings): a stream holding records the stream job has not read is refused unless <c>?force=true</c>.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the fields through IAsyncLifetime.DisposeAsync.")]
public sealed class KinesisDeleteStreamTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("delete-stream");
    private PipelineHost _host = null!;
    private HttpClient _client = null!;

    private PinPipeSettings Settings => _host.Settings;
    private string Pin => Settings.Names.PinStream;

    public async Task InitializeAsync()
    {
        var settings = new PinPipeSettings { DataDir = _dir.Path, UserId = "del", Ingest = new() { Urls = "http://127.0.0.1:0" } }.Resolve();
        _host = await PipelineHost.StartAsync(settings, HostParts.Api);
        _client = new HttpClient { BaseAddress = _host.Api!.BaseAddress };
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _host.DisposeAsync();
        _dir.Dispose();
    }

    private async Task PutAsync(int count)
    {
        for (int i = 0; i < count; i++)
        {
            using var body = new StringContent($$"""{"Data":{"i":{{i}}},"PartitionKey":"k{{i}}"}""", System.Text.Encoding.UTF8, "application/json");
            using var put = await _client.PutAsync($"streams/{Pin}/record", body);
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }
    }

    private async Task<(HttpStatusCode Status, string Type, string Message)> DeleteAsync(string path)
    {
        using var response = await _client.DeleteAsync(path);
        string body = await response.Content.ReadAsStringAsync();
        if (body.Length == 0) return (response.StatusCode, "", "");
        using var doc = JsonDocument.Parse(body);
        return (response.StatusCode, doc.RootElement.GetProperty("__type").GetString()!, doc.RootElement.GetProperty("message").GetString()!);
    }

    [Fact]
    public async Task A_stream_with_records_the_stream_job_has_not_read_is_400_ResourceInUseException_naming_them_and_nothing_is_deleted()
    {
        await PutAsync(3);
        await _host.Log.CommitOffsetsAsync("pinpipe-stream", [new(Pin, 0, 1)]); // the job read the first record only

        var (status, type, message) = await DeleteAsync($"streams/{Pin}");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("ResourceInUseException", type);
        Assert.Contains($"Topic '{Pin}' holds 2 records consumer group 'pinpipe-stream' has not consumed: 2 in partition 0 (offsets 1 to 2)", message, StringComparison.Ordinal);
        Assert.Contains("?force=true", message, StringComparison.Ordinal);
        Assert.Equal(new Watermarks(0, 3), await _host.Log.GetWatermarksAsync(Pin, 0));
        var (_, falseType, _) = await DeleteAsync($"streams/{Pin}?force=false");
        Assert.Equal("ResourceInUseException", falseType);
    }

    [Fact]
    public async Task A_stream_never_read_is_refused_and_one_read_to_its_end_or_empty_is_deleted()
    {
        await PutAsync(2);
        var (status, type, message) = await DeleteAsync($"streams/{Pin}");
        Assert.Equal((HttpStatusCode.BadRequest, "ResourceInUseException"), (status, type));
        Assert.Contains("2 records consumer group 'pinpipe-stream' has not consumed", message, StringComparison.Ordinal);

        await _host.Log.CommitOffsetsAsync("pinpipe-stream", [new(Pin, 0, 2)]);
        Assert.Equal(HttpStatusCode.OK, (await DeleteAsync($"streams/{Pin}")).Status);
        Assert.Null(await _host.Log.DescribeTopicAsync(Pin));
        Assert.Equal(HttpStatusCode.OK, (await DeleteAsync($"streams/{Settings.Names.GeoStream}")).Status); // empty
        Assert.Null(await _host.Log.DescribeTopicAsync(Settings.Names.GeoStream));
    }

    [Fact]
    public async Task Force_true_deletes_a_stream_whatever_it_holds_and_a_second_delete_is_ResourceNotFoundException()
    {
        await PutAsync(4);
        Assert.Equal(HttpStatusCode.OK, (await DeleteAsync($"streams/{Pin}?force=true")).Status);
        Assert.Null(await _host.Log.DescribeTopicAsync(Pin));

        var (status, type, message) = await DeleteAsync($"streams/{Pin}?force=true");
        Assert.Equal((HttpStatusCode.BadRequest, "ResourceNotFoundException"), (status, type));
        Assert.Contains(Pin, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_force_that_is_not_true_or_false_is_400_ValidationException_and_deletes_nothing()
    {
        await PutAsync(1);
        var (status, type, message) = await DeleteAsync($"streams/{Pin}?force=yes");
        Assert.Equal((HttpStatusCode.BadRequest, "ValidationException"), (status, type));
        Assert.Contains("force is 'yes'", message, StringComparison.Ordinal);
        Assert.NotNull(await _host.Log.DescribeTopicAsync(Pin));
    }
}
