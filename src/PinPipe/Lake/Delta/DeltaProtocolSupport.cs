namespace PinPipe.Lake.Delta;

/// <summary>Which protocol versions and features this implementation reads and writes (protocol §1.2).</summary>
internal static class DeltaProtocolSupport
{
    /// <summary>Reader features that change nothing for a reader of plain Parquet files.</summary>
    private static readonly HashSet<string> ReaderFeatures = new(StringComparer.Ordinal) { "vacuumProtocolCheck" };

    /// <summary>Writer features this writer honours (appendOnly is enforced; invariants are refused when used).</summary>
    private static readonly HashSet<string> WriterFeatures = new(StringComparer.Ordinal) { "appendOnly", "invariants" };

    internal const int MaxWriterVersion = 2;

    /// <summary>Throws when a reader of this implementation would read the table wrongly.</summary>
    internal static void CheckReadable(DeltaProtocol protocol, DeltaMetadata metadata, string table)
    {
        if (protocol.MinReaderVersion > 3)
            throw new DeltaException(DeltaErrorCode.Unsupported, $"Delta table {table} needs reader version {protocol.MinReaderVersion}; PinPipe reads versions 1 to 3.");
        if (protocol.MinReaderVersion == 3)
        {
            var unknown = (protocol.ReaderFeatures ?? []).Where(f => !ReaderFeatures.Contains(f)).ToList();
            if (unknown.Count > 0)
                throw new DeltaException(DeltaErrorCode.Unsupported,
                    $"Delta table {table} needs reader feature(s) {string.Join(", ", unknown.Select(f => "'" + f + "'"))}, which PinPipe does not support.");
        }
        if (metadata.Get("delta.columnMapping.mode") is { } mode && !mode.Equals("none", StringComparison.OrdinalIgnoreCase))
            throw new DeltaException(DeltaErrorCode.Unsupported, $"Delta table {table} uses column mapping (mode '{mode}'), which PinPipe does not support.");
    }

    /// <summary>Throws when this implementation must not write to the table.</summary>
    internal static void CheckWritable(DeltaProtocol protocol, DeltaMetadata metadata, string table)
    {
        CheckReadable(protocol, metadata, table);
        if (protocol.MinWriterVersion == 7)
        {
            var unknown = (protocol.WriterFeatures ?? []).Where(f => !WriterFeatures.Contains(f)).ToList();
            if (unknown.Count > 0)
                throw new DeltaException(DeltaErrorCode.Unsupported,
                    $"Delta table {table} needs writer feature(s) {string.Join(", ", unknown.Select(f => "'" + f + "'"))}, which PinPipe does not support.");
        }
        else if (protocol.MinWriterVersion > MaxWriterVersion)
        {
            throw new DeltaException(DeltaErrorCode.Unsupported, $"Delta table {table} needs writer version {protocol.MinWriterVersion}; PinPipe writes versions 1 and 2.");
        }
        if (UsesInvariants(metadata.Schema.Fields))
            throw new DeltaException(DeltaErrorCode.Unsupported, $"Delta table {table} has column invariants (delta.invariants), which PinPipe does not enforce.");
    }

    private static bool UsesInvariants(IEnumerable<DeltaField> fields) =>
        fields.Any(f => f.MetadataJson.Contains("delta.invariants", StringComparison.Ordinal) || (f.Type is DeltaStructType s && UsesInvariants(s.Fields)));
}
