namespace PinPipe.Log;

/// <summary>Topic ids as Kafka writes them: 16 bytes in URL-safe base64 without padding (22 characters).</summary>
internal static class TopicIds
{
    /// <summary>A new random id (a version-4 UUID, as Kafka gives a new topic).</summary>
    public static string New() => Encode(Guid.NewGuid().ToByteArray(bigEndian: true));

    /// <summary>The id of Kafka's two 64-bit halves; null for Kafka's zero id (no id).</summary>
    public static string? FromHalves(long mostSignificant, long leastSignificant)
    {
        if (mostSignificant == 0 && leastSignificant == 0) return null;
        var bytes = new byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(bytes, mostSignificant);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(8), leastSignificant);
        return Encode(bytes);
    }

    private static string Encode(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
