using System.Text;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Lake.Delta;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

/// <summary>From a store without local paths (S3) the loader streams each raw object into a temporary file; it never reads one into memory.</summary>
public sealed class RawLoaderDownloadTests : IDisposable
{
    private const string Topic = "U.pin";
    private readonly TempDirectory _root = new("rawloader-download");
    private readonly DirectoryObjectStore _store;
    private readonly TransformTestKit _kit = new();

    public RawLoaderDownloadTests() => _store = new DirectoryObjectStore(_root.Path, "user-U-bucket");

    public void Dispose()
    {
        _kit.Dispose();
        _root.Dispose();
    }

    [Fact]
    public async Task Raw_objects_are_streamed_to_files_not_fetched_as_bytes_and_invalid_utf8_lines_still_become_envelopes()
    {
        await _store.PutAsync($"topics/{Topic}/partition=0/{Topic}+0+0000000000.json", Encoding.UTF8.GetBytes("{\"index\": 0}\n{\"index\": 1}\n"));
        await _store.PutAsync($"topics/{Topic}/partition=1/{Topic}+1+0000000000.json", (byte[])[.. "{\"index\": 5}\n"u8, 0xFF, 0xFE, (byte)'\n']);
        var remote = new DataAsStreamsOnlyStore(_store);

        RawLoadResult result = await RawLoader.LoadTopicAsync(_kit.Connection, remote, Topic, "raw_pin");

        Assert.Equal((2, 4L), (result.Objects, result.Records));
        Assert.Equal(2, remote.Streamed.Count);
        var rows = _kit.Rows("SELECT origin, line FROM raw_pin ORDER BY seq").Select(r => (r["origin"], r["line"])).ToList();
        Assert.Equal(("U.pin/0/0", "{\"index\": 0}"), rows[0]);
        Assert.Equal(("U.pin/1/0", "{\"index\": 5}"), rows[2]);
        Assert.Equal(("U.pin/1/1", "{\"pinpipe_binary_base64\":\"//4=\"}"), rows[3]);
    }
}
