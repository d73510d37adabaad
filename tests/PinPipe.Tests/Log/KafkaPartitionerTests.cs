using System.Text;
using PinPipe.Log;

namespace PinPipe.Tests.Log;

public sealed class KafkaPartitionerTests
{
    // Apache Kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
    [Theory]
    [InlineData("21", -973932308)]
    [InlineData("foobar", -790332482)]
    [InlineData("a-little-bit-long-string", -985981536)]
    [InlineData("a-little-bit-longer-string", -1486304829)]
    [InlineData("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971)]
    [InlineData("abc", 479470107)]
    public void Murmur2_matches_Kafkas_own_test_vectors(string input, int expected) =>
        Assert.Equal(expected, KafkaPartitioner.Murmur2(Encoding.ASCII.GetBytes(input)));

    [Fact]
    public void The_partition_is_the_positive_hash_modulo_the_partition_count()
    {
        // (-790332482 & 0x7fffffff) = 1357151166; 1357151166 % 50 = 16.
        Assert.Equal(16, KafkaPartitioner.Partition("foobar"u8, 50));
        Assert.Equal((-973932308 & 0x7fffffff) % 7, KafkaPartitioner.Partition("21"u8, 7));
        Assert.Equal(0, KafkaPartitioner.Partition("anything"u8, 1));
    }
}
