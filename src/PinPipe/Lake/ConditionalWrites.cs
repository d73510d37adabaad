namespace PinPipe.Lake;

/// <summary>
/// Whether the S3 server enforces <c>If-None-Match: *</c> on PUT (<c>ObjectStore:ConditionalWrites</c>; settings name it in
/// any case: <c>auto</c>, <c>true</c>, <c>false</c>), which decides <see cref="IObjectStore.AtomicPutIfAbsent"/>.
/// </summary>
public enum ConditionalWrites
{
    /// <summary>True for AWS S3 (no <c>ObjectStore:ServiceUrl</c>), false for a custom endpoint (default).</summary>
    Auto,

    /// <summary>The server answers 412 to a PUT with <c>If-None-Match: *</c> when the key exists, atomically.</summary>
    True,

    /// <summary>The server may ignore the header and overwrite: one writer per Delta table.</summary>
    False,
}
