using PinPipe.Batch;
using PinPipe.Configuration;
using Xunit;

namespace PinPipe.Tests.Batch;

/// <summary>Batch:ChunkSize, the raw JSON a full rebuild reads at a time: a size, or a sixth of Batch:MemoryLimit.</summary>
public sealed class BatchOptionsTests
{
    [Theory]
    [InlineData("1250MB", null, 208_333_333L)]
    [InlineData("3GiB", null, 1L << 29)]
    [InlineData("1250MB", "400MB", 400_000_000L)]
    [InlineData("1250MB", "256MiB", 256L << 20)]
    [InlineData("1250MB", "1.5 kb", 1_500L)]
    [InlineData("2MB", null, 1_000_000L)] // at least 1 MB
    public void A_chunk_is_the_size_given_or_a_sixth_of_the_memory_limit(string memoryLimit, string? chunkSize, long bytes)
    {
        var options = new BatchOptions { MemoryLimit = memoryLimit, ChunkSize = chunkSize };
        Assert.Empty(options.Validate());
        Assert.Equal(bytes, options.ChunkBytes);
    }

    [Fact]
    public void A_percentage_memory_limit_gives_a_sixth_of_that_share_of_the_memory()
    {
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        Assert.InRange(new BatchOptions { MemoryLimit = "60%" }.ChunkBytes, (long)(available * 0.1) - 2, (long)(available * 0.1) + 2);
        Assert.Equal(available / 2, SettingFormats.ToBytes("50%")!.Value, (double)available / 1e6);
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("30%")]
    [InlineData("0MB")]
    [InlineData("")]
    public void A_chunk_size_that_is_not_a_size_is_refused_naming_the_setting(string chunkSize)
    {
        string problem = Assert.Single(new BatchOptions { ChunkSize = chunkSize }.Validate());
        Assert.StartsWith("Batch:ChunkSize:", problem, StringComparison.Ordinal);
        Assert.Contains("400MB", problem, StringComparison.Ordinal);
    }
}
