using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace PinPipe.Log.Kinesis;

/// <summary>The keys a request is signed with: access key id, secret key and, for temporary credentials, the session token.</summary>
/// <param name="AccessKeyId">The access key id (<c>AKID…</c>).</param>
/// <param name="SecretAccessKey">The secret access key.</param>
/// <param name="SessionToken">The session token of temporary credentials, sent as <c>X-Amz-Security-Token</c>; null for long-term keys.</param>
public sealed record AwsKeys(string AccessKeyId, string SecretAccessKey, string? SessionToken = null)
{
    /// <summary>Never prints the secret or the token.</summary>
    public override string ToString() => $"AwsKeys {{ AccessKeyId = {AccessKeyId} }}";
}

/// <summary>
/// AWS Signature Version 4 (<c>AWS4-HMAC-SHA256</c>) in the Authorization header, as AWS's SigV4 documentation and its
/// published test suite define it: canonical request (method, URI-encoded path, sorted query, lower-case sorted headers with
/// trimmed values, signed header list, SHA-256 of the payload), string to sign over the credential scope
/// <c>date/region/service/aws4_request</c>, and the HMAC chain from <c>AWS4</c> + secret. Checked against the suite's
/// vectors in the tests. Paths are taken unencoded and encoded once (as for every service but S3).
/// </summary>
public static class AwsSigV4
{
    /// <summary>The algorithm name of the Authorization header.</summary>
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>The format of <c>X-Amz-Date</c>: <c>20150830T123600Z</c>.</summary>
    public const string DateFormat = "yyyyMMdd'T'HHmmss'Z'";

    /// <summary>
    /// The Authorization header value for a request. <paramref name="headers"/> are the headers to sign (Host and
    /// X-Amz-Date among them, and X-Amz-Security-Token for temporary keys); names in any case, a repeated name's values
    /// joined with commas in the order given.
    /// </summary>
    public static string Authorization(string method, string path, IEnumerable<KeyValuePair<string, string>> query,
        IEnumerable<KeyValuePair<string, string>> headers, ReadOnlySpan<byte> payload, AwsKeys keys, string region, string service, DateTimeOffset time)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var (canonical, signedHeaders) = CanonicalRequest(method, path, query, headers, payload);
        string date = time.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        string scope = $"{date}/{region}/{service}/aws4_request";
        string toSign = $"{Algorithm}\n{time.UtcDateTime.ToString(DateFormat, CultureInfo.InvariantCulture)}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        byte[] key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + keys.SecretAccessKey), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(service));
        key = HMACSHA256.HashData(key, "aws4_request"u8);
        string signature = Hex(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(toSign)));
        return $"{Algorithm} Credential={keys.AccessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
    }

    /// <summary>The canonical request and the signed header list (<c>host;x-amz-date</c>).</summary>
    internal static (string Canonical, string SignedHeaders) CanonicalRequest(string method, string path,
        IEnumerable<KeyValuePair<string, string>> query, IEnumerable<KeyValuePair<string, string>> headers, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(path);
        var sb = new StringBuilder(512);
        sb.Append(method.ToUpperInvariant()).Append('\n');
        sb.Append(CanonicalPath(path)).Append('\n');
        sb.AppendJoin('&', query
            .Select(q => (Key: Encode(q.Key), Value: Encode(q.Value)))
            .OrderBy(q => q.Key, StringComparer.Ordinal).ThenBy(q => q.Value, StringComparer.Ordinal)
            .Select(q => q.Key + "=" + q.Value)).Append('\n');
        var canonicalHeaders = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (name, value) in headers)
        {
            string lower = name.Trim().ToLowerInvariant();
            if (!canonicalHeaders.TryGetValue(lower, out var values)) canonicalHeaders[lower] = values = [];
            values.Add(TrimValue(value));
        }
        foreach (var (name, values) in canonicalHeaders) sb.Append(name).Append(':').AppendJoin(',', values).Append('\n');
        sb.Append('\n');
        string signed = string.Join(';', canonicalHeaders.Keys);
        sb.Append(signed).Append('\n');
        sb.Append(Hex(SHA256.HashData(payload)));
        return (sb.ToString(), signed);
    }

    /// <summary>The path with each segment URI-encoded (<c>/</c> kept); an empty path is <c>/</c>.</summary>
    private static string CanonicalPath(string path) =>
        path.Length == 0 ? "/" : string.Join('/', path.Split('/').Select(Encode));

    /// <summary>RFC 3986 encoding as SigV4 wants it: unreserved characters as they are, every other UTF-8 byte as <c>%XX</c>.</summary>
    internal static string Encode(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            if (b is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9') or (byte)'-' or (byte)'.' or (byte)'_' or (byte)'~')
                sb.Append((char)b);
            else
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    /// <summary>A header value with leading and trailing spaces removed and inner runs of spaces made one.</summary>
    private static string TrimValue(string value)
    {
        var sb = new StringBuilder(value.Length);
        bool space = false;
        foreach (char c in value.Trim())
        {
            if (c is ' ' or '\t' or '\n' or '\r')
            {
                space = true;
                continue;
            }
            if (space) sb.Append(' ');
            space = false;
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Lower-case hex, as SigV4 writes hashes and signatures.</summary>
    internal static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);
}
