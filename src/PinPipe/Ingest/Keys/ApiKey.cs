namespace PinPipe.Ingest.Keys;

/// <summary>What an API key may do: <see cref="Produce"/> records (to the topics and streams its pattern matches) and read, or everything (<see cref="Admin"/>).</summary>
public enum KeyScope
{
    /// <summary>Produce to the topics and streams the key's pattern matches; list and describe.</summary>
    Produce,

    /// <summary>Everything: produce anywhere, create and delete streams.</summary>
    Admin,
}

/// <summary>An API key as the key file describes it, without its secret or hash: what <c>pinpipe keys list</c> shows and what a request's key allows.</summary>
/// <param name="Name">Its name (letters, digits, '.', '_', '-').</param>
/// <param name="Scope">What it may do.</param>
/// <param name="Topics">The topics and streams a produce key may produce to: ','-separated globs with '*'; null for any.</param>
/// <param name="Created">When it was created.</param>
/// <param name="RevokedAt">When it was revoked; null while it is valid.</param>
/// <param name="RateLimit">The most requests per second it may make (more get 429 with Retry-After); null for no limit.</param>
public sealed record ApiKey(string Name, KeyScope Scope, string? Topics, DateTimeOffset Created, DateTimeOffset? RevokedAt, int? RateLimit = null)
{
    /// <summary>The highest <see cref="RateLimit"/>, requests per second.</summary>
    public const int MaxRateLimit = 1_000_000;

    /// <summary>
    /// The rate limit <paramref name="text"/> names: <c>N/s</c> or <c>N</c>, a whole number of requests per second from 1 to
    /// <see cref="MaxRateLimit"/>; null when it names none.
    /// </summary>
    public static int? ParseRateLimit(string? text)
    {
        string number = text is not null && text.EndsWith("/s", StringComparison.OrdinalIgnoreCase) ? text[..^2] : text ?? "";
        return int.TryParse(number, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n is >= 1 and <= MaxRateLimit ? n : null;
    }

    /// <summary>Whether the key was revoked (requests carrying it are refused).</summary>
    public bool Revoked => RevokedAt is not null;

    /// <summary>Whether the key may produce to the topic or stream <paramref name="name"/>: an admin key anywhere, a produce key where its pattern matches.</summary>
    public bool MayProduceTo(string name) => Scope == KeyScope.Admin || TopicPattern.Matches(Topics, name);

    /// <summary>The scope as the CLI and the key file write it: <c>produce</c> or <c>admin</c>.</summary>
    public static string ScopeText(KeyScope scope) => scope == KeyScope.Admin ? "admin" : "produce";

    /// <summary>The scope named by <paramref name="text"/> (<c>produce</c> or <c>admin</c>, any case), or null.</summary>
    public static KeyScope? ParseScope(string? text) =>
        string.Equals(text, "produce", StringComparison.OrdinalIgnoreCase) ? KeyScope.Produce
        : string.Equals(text, "admin", StringComparison.OrdinalIgnoreCase) ? KeyScope.Admin
        : null;
}
