namespace PinPipe.Log;

/// <summary>
/// Kafka's default partitioner for keyed records: <c>toPositive(murmur2(key)) % partitions</c>, bit for bit
/// as <c>org.apache.kafka.common.utils.Utils.murmur2</c>, so a key lands on the same partition as with a Kafka producer.
/// </summary>
internal static class KafkaPartitioner
{
    private const uint Seed = 0x9747b28c;
    private const uint M = 0x5bd1e995;
    private const int R = 24;

    /// <summary>The partition of a key among <paramref name="partitions"/> partitions.</summary>
    public static int Partition(ReadOnlySpan<byte> key, int partitions) => (Murmur2(key) & 0x7fffffff) % partitions;

    /// <summary>Kafka's 32-bit murmur2 hash of the bytes (signed, as Java returns it).</summary>
    public static int Murmur2(ReadOnlySpan<byte> data)
    {
        unchecked
        {
            var length = data.Length;
            var h = Seed ^ (uint)length;
            var length4 = length / 4;
            for (var i = 0; i < length4; i++)
            {
                var i4 = i * 4;
                var k = data[i4] | ((uint)data[i4 + 1] << 8) | ((uint)data[i4 + 2] << 16) | ((uint)data[i4 + 3] << 24);
                k *= M;
                k ^= k >> R;
                k *= M;
                h *= M;
                h ^= k;
            }

            var tail = length & ~3;
            switch (length % 4)
            {
                case 3:
                    h ^= (uint)data[tail + 2] << 16;
                    h ^= (uint)data[tail + 1] << 8;
                    h ^= data[tail];
                    h *= M;
                    break;
                case 2:
                    h ^= (uint)data[tail + 1] << 8;
                    h ^= data[tail];
                    h *= M;
                    break;
                case 1:
                    h ^= data[tail];
                    h *= M;
                    break;
            }

            h ^= h >> 13;
            h *= M;
            h ^= h >> 15;
            return (int)h;
        }
    }
}
