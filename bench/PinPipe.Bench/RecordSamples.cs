using System.Text;
using PinPipe.Source;

namespace PinPipe.Bench;

/// <summary>Realistic records: the synthetic source's rows as the emulator posts them.</summary>
internal static class RecordSamples
{
    /// <summary>A typical pin record's JSON (about 600 bytes).</summary>
    public static string PinRecord() => Encoding.UTF8.GetString(SourceJson.Pin(SyntheticData.Post(42, 2).Pin));

    /// <summary>Raw pin, geo and user records of <paramref name="count"/> posts, cycling over 10,000 generated posts.</summary>
    public static IEnumerable<byte[]> Records(long count)
    {
        var posts = SyntheticData.GenerateBatch(42, SyntheticData.FirstIndex, 10_000);
        for (long i = 0; i < count; i++)
        {
            var p = posts[i % posts.Length];
            yield return (i % 3) switch { 0 => SourceJson.Pin(p.Pin), 1 => SourceJson.Geo(p.Geo!), _ => SourceJson.User(p.User!) };
        }
    }
}
