namespace PinPipe.Lake;

/// <summary>Validation of object keys shared by the object stores.</summary>
internal static class ObjectKeys
{
    /// <summary>Prefix of the Directory store's temporary files; no key segment may start with it.</summary>
    internal const string TempPrefix = ".pinpipe-tmp-";

    /// <summary>Throws <see cref="ArgumentException"/> when <paramref name="key"/> is not a valid key.</summary>
    internal static void Validate(string key, string paramName = "key")
    {
        ArgumentNullException.ThrowIfNull(key, paramName);
        string? problem = Check(key);
        if (problem is not null) throw new ArgumentException($"Invalid object key '{key}': {problem}.", paramName);
    }

    private static string? Check(string key)
    {
        if (key.Length == 0) return "it is empty";
        if (key.Length > 1024) return "it is longer than 1024 characters";
        if (key[0] == '/') return "it starts with '/' (keys are relative)";
        if (key.Contains('\\', StringComparison.Ordinal)) return "it contains a backslash (use '/' as separator)";
        if (key.Contains('\0', StringComparison.Ordinal)) return "it contains a NUL character";
        foreach (string segment in key.Split('/'))
        {
            if (segment.Length == 0) return "it has an empty segment ('//' or a trailing '/')";
            if (segment is "." or "..") return $"it has a '{segment}' segment";
            if (segment.StartsWith(TempPrefix, StringComparison.Ordinal)) return $"a segment starts with the reserved prefix '{TempPrefix}'";
        }
        return null;
    }
}
