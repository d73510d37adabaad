using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PinPipe.Errors;
using PinPipe.Files;

namespace PinPipe.Ingest.Keys;

/// <summary>
/// The API keys, in one JSON file (<c>Ingest:KeysFile</c>, default <c>&lt;DataDir&gt;/keys.json</c>): each key's name, scope,
/// topic pattern, creation and revocation times and the SHA-256 of its secret, never the secret itself. The file is
/// owner-only (0600) and replaced whole (written under a temporary name, then renamed), under a lock file so that two
/// <c>pinpipe keys</c> commands do not lose each other's change; a reader sees the old or the new file, never a part.
/// </summary>
/// <remarks>
/// A secret is <see cref="SecretBytes"/> bytes from <see cref="RandomNumberGenerator"/>, shown once as
/// <c>ppk_</c> + base64url. SHA-256 is the right hash for it: a slow password hash (PBKDF2, Argon2) is there to make
/// guessing a low-entropy human password expensive, but 256 random bits cannot be guessed whatever the hash costs,
/// and SHA-256 is preimage-resistant, so the file gives nobody a key; a fast hash also keeps checking a key cheap on
/// every request. Checking compares the presented key's hash with every stored hash in constant time
/// (<see cref="CryptographicOperations.FixedTimeEquals"/>), so the time taken says nothing about how close a guess was.
/// </remarks>
public sealed class KeyStore
{
    /// <summary>What every secret starts with, so that a leaked one is recognisable (secret scanners, logs).</summary>
    public const string SecretPrefix = "ppk_";

    /// <summary>Random bytes of a secret.</summary>
    public const int SecretBytes = 32;

    /// <summary>The longest key name.</summary>
    public const int MaxNameLength = 64;

    /// <summary>The default file name, under <c>DataDir</c>.</summary>
    public const string DefaultFileName = "keys.json";

    private const int Format = 1;
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(10);

    public KeyStore(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
    }

    /// <summary>The key file (absolute).</summary>
    public string Path { get; }

    /// <summary>Every key, revoked ones included, in the order they were created; none when the file does not exist.</summary>
    /// <exception cref="IngestException">The file cannot be read or is not a key file (<c>ingest.keys_file</c>).</exception>
    public IReadOnlyList<ApiKey> List() => Read().Keys;

    /// <summary>The key whose secret is <paramref name="secret"/>, revoked or not, or null when none is (compared in constant time).</summary>
    public ApiKey? Verify(string secret) => Read().Find(secret);

    /// <summary>
    /// The secret of a key a PinPipe command makes for itself (<c>pinpipe up</c>'s emulators): the one kept in
    /// <paramref name="secretFile"/> (owner-only) while it is a valid key of this store, else a new produce key named
    /// <paramref name="name"/> (replacing a revoked or lost one of that name), whose secret is kept there for the next run.
    /// </summary>
    public async Task<string> OwnKeyAsync(string name, string secretFile, CancellationToken cancellationToken = default)
    {
        try
        {
            string kept = (await File.ReadAllTextAsync(secretFile, cancellationToken).ConfigureAwait(false)).Trim();
            if (Verify(kept) is { Revoked: false } key && key.Name == name) return kept;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException) { }
        var (_, secret) = await ReplaceAsync(name, KeyScope.Produce, null, null, cancellationToken).ConfigureAwait(false);
        OwnerOnly.CreateParentDirectory(secretFile);
        await using var content = new MemoryStream(Encoding.UTF8.GetBytes(secret + "\n"));
        await OwnerOnly.WriteStreamAsync(secretFile, content, cancellationToken).ConfigureAwait(false);
        return secret;
    }

    /// <summary>Why <paramref name="name"/> cannot name a key, or null when it can.</summary>
    public static string? NameProblem(string name) =>
        name is { Length: > 0 and <= MaxNameLength } && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')
            ? null
            : $"Key name '{name}' must be 1 to {MaxNameLength} letters, digits, '.', '_' or '-'.";

    /// <summary>
    /// Creates a key and returns it with its secret, the one time the secret exists outside the caller: the file keeps
    /// only its hash.
    /// </summary>
    /// <exception cref="IngestException">
    /// A bad name or pattern (<c>ingest.key_invalid</c>, bad input); a key of that name exists, revoked or not
    /// (<c>ingest.key_exists</c>); the file cannot be read or written.
    /// </exception>
    public Task<(ApiKey Key, string Secret)> CreateAsync(string name, KeyScope scope, string? topics, int? rateLimit = null, CancellationToken cancellationToken = default) =>
        AddAsync(name, scope, topics, rateLimit, replace: false, cancellationToken);

    /// <summary>
    /// As <see cref="CreateAsync"/>, but a key of that name, revoked or not, is replaced: its old secret stops working.
    /// What <c>pinpipe up</c> does when it lost the secret of its own key.
    /// </summary>
    public Task<(ApiKey Key, string Secret)> ReplaceAsync(string name, KeyScope scope, string? topics, int? rateLimit = null, CancellationToken cancellationToken = default) =>
        AddAsync(name, scope, topics, rateLimit, replace: true, cancellationToken);

    private async Task<(ApiKey Key, string Secret)> AddAsync(string name, KeyScope scope, string? topics, int? rateLimit, bool replace, CancellationToken cancellationToken)
    {
        if (NameProblem(name) is { } bad) throw Invalid(bad);
        if (topics is not null && TopicPattern.Problem(topics) is { } badTopics) throw Invalid($"--topics: {badTopics}.");
        if (rateLimit is not null and not (>= 1 and <= ApiKey.MaxRateLimit)) throw Invalid($"--rate-limit: {rateLimit} must be 1 to {ApiKey.MaxRateLimit} requests per second.");
        if (!Enum.IsDefined(scope)) throw Invalid($"Scope {scope} must be produce or admin.");
        if (scope == KeyScope.Admin && topics is not null) throw Invalid("--topics limits a produce key; an admin key may produce anywhere: leave out --topics or use --scope produce.");
        await using var gate = await LockAsync(cancellationToken).ConfigureAwait(false);
        var set = Read();
        int existing = IndexOf(set.Keys, name);
        if (existing >= 0 && !replace)
            throw new IngestException("ingest.key_exists", ErrorKind.Failed,
                $"A key named '{name}' already exists{(set.Keys[existing].Revoked ? " (revoked)" : "")}; choose another name " +
                "(names are never reused, so a revoked name keeps meaning the key it was)", where: Path);
        string secret = SecretPrefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SecretBytes));
        var key = new ApiKey(name, scope, topics, Now(), null, rateLimit);
        var keys = set.Keys.ToList();
        var hashes = set.Hashes.ToList();
        if (existing >= 0)
        {
            keys.RemoveAt(existing);
            hashes.RemoveAt(existing);
        }
        keys.Add(key);
        hashes.Add(Hash(secret));
        await WriteAsync(keys, hashes, cancellationToken).ConfigureAwait(false);
        return (key, secret);
    }

    /// <summary>Revokes the key named <paramref name="name"/>: requests carrying it are refused from then on. Revoking a revoked key changes nothing.</summary>
    /// <exception cref="IngestException">No key has that name (<c>ingest.key_unknown</c>); the file cannot be read or written.</exception>
    public async Task<ApiKey> RevokeAsync(string name, CancellationToken cancellationToken = default)
    {
        await using var gate = await LockAsync(cancellationToken).ConfigureAwait(false);
        var set = Read();
        int index = IndexOf(set.Keys, name);
        if (index < 0)
            throw new IngestException("ingest.key_unknown", ErrorKind.Failed,
                set.Keys.Count == 0
                    ? $"No key is named '{name}': there are no keys; nothing was revoked"
                    : $"No key is named '{name}' (the keys: {string.Join(", ", set.Keys.Select(k => k.Name))}); nothing was revoked", where: Path);
        if (set.Keys[index].Revoked) return set.Keys[index];
        var keys = set.Keys.ToList();
        keys[index] = keys[index] with { RevokedAt = Now() };
        await WriteAsync(keys, set.Hashes, cancellationToken).ConfigureAwait(false);
        return keys[index];
    }

    /// <summary>The keys with their hashes, as the file holds them now (none when it does not exist).</summary>
    /// <exception cref="IngestException">The file cannot be read or is not a key file (<c>ingest.keys_file</c>, bad input).</exception>
    internal KeySet Read()
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(Path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return KeySet.Empty;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IngestException("ingest.keys_file", ErrorKind.Unavailable, $"The key file cannot be read: {ex.Message}", ex, Path);
        }
        try
        {
            return Parse(bytes);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            throw new IngestException("ingest.keys_file", ErrorKind.BadInput,
                $"The key file is not one PinPipe wrote ({ex.Message}); restore it, or move it away and create the keys again with `pinpipe keys create`", ex, Path);
        }
    }

    /// <summary>The SHA-256 of a presented secret.</summary>
    internal static byte[] Hash(string secret)
    {
        var hash = new byte[SHA256.HashSizeInBytes];
        Hash(secret, hash);
        return hash;
    }

    /// <summary>The SHA-256 of the secret's UTF-8 bytes into <paramref name="hash"/>, without allocating for a key-sized secret (every request with a key hashes it).</summary>
    internal static void Hash(string secret, Span<byte> hash)
    {
        int length = Encoding.UTF8.GetByteCount(secret);
        Span<byte> utf8 = length <= 512 ? stackalloc byte[512] : new byte[length];
        SHA256.HashData(utf8[..Encoding.UTF8.GetBytes(secret, utf8)], hash);
    }

    private static KeySet Parse(byte[] bytes)
    {
        using var doc = JsonDocument.Parse(bytes);
        var root = doc.RootElement;
        if (root.GetProperty("format").GetInt32() != Format) throw new FormatException($"format {root.GetProperty("format")} is not {Format}");
        var keys = new List<ApiKey>();
        var hashes = new List<byte[]>();
        int i = 0;
        foreach (var entry in root.GetProperty("keys").EnumerateArray())
        {
            string name = entry.GetProperty("name").GetString() ?? "";
            if (NameProblem(name) is not null) throw new FormatException($"keys[{i}] has the name '{name}'");
            var scope = ApiKey.ParseScope(entry.GetProperty("scope").GetString()) ?? throw new FormatException($"key '{name}' has no scope produce or admin");
            string? topics = entry.TryGetProperty("topics", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if (topics is not null && TopicPattern.Problem(topics) is { } problem) throw new FormatException($"key '{name}': topics {problem}");
            var created = entry.GetProperty("created").GetDateTimeOffset();
            DateTimeOffset? revoked = entry.TryGetProperty("revokedAt", out var r) && r.ValueKind == JsonValueKind.String ? r.GetDateTimeOffset() : null;
            int? rate = entry.TryGetProperty("rateLimit", out var l) && l.ValueKind == JsonValueKind.Number ? l.GetInt32() : null;
            if (rate is not null and not (>= 1 and <= ApiKey.MaxRateLimit)) throw new FormatException($"key '{name}' has the rate limit {rate}");
            byte[] hash = Convert.FromBase64String(entry.GetProperty("sha256").GetString() ?? "");
            if (hash.Length != SHA256.HashSizeInBytes) throw new FormatException($"key '{name}' has no SHA-256 hash");
            if (IndexOf(keys, name) >= 0) throw new FormatException($"the name '{name}' is there twice");
            keys.Add(new ApiKey(name, scope, topics, created, revoked, rate));
            hashes.Add(hash);
            i++;
        }
        return new KeySet(keys, hashes);
    }

    private async Task WriteAsync(List<ApiKey> keys, IReadOnlyList<byte[]> hashes, CancellationToken cancellationToken)
    {
        await using var buffer = new MemoryStream();
        await using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteNumber("format", Format);
            writer.WriteString("about", "PinPipe's API keys (pinpipe keys create|list|revoke): each key's SHA-256, never the key.");
            writer.WriteStartArray("keys");
            for (int i = 0; i < keys.Count; i++)
            {
                var k = keys[i];
                writer.WriteStartObject();
                writer.WriteString("name", k.Name);
                writer.WriteString("scope", ApiKey.ScopeText(k.Scope));
                if (k.Topics is null) writer.WriteNull("topics");
                else writer.WriteString("topics", k.Topics);
                writer.WriteString("created", k.Created.ToString("O", CultureInfo.InvariantCulture));
                if (k.RateLimit is { } limit) writer.WriteNumber("rateLimit", limit);
                else writer.WriteNull("rateLimit");
                if (k.RevokedAt is { } at) writer.WriteString("revokedAt", at.ToString("O", CultureInfo.InvariantCulture));
                else writer.WriteNull("revokedAt");
                writer.WriteString("sha256", Convert.ToBase64String(hashes[i]));
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        buffer.Position = 0;
        try
        {
            OwnerOnly.CreateParentDirectory(Path);
            await OwnerOnly.WriteStreamAsync(Path, buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IngestException("ingest.keys_file", ErrorKind.Unavailable, $"The key file cannot be written, nothing was changed: {ex.Message}", ex, Path);
        }
    }

    /// <summary>The lock file beside the key file, held while a change reads and replaces it.</summary>
    private async Task<FileStream> LockAsync(CancellationToken cancellationToken)
    {
        try
        {
            OwnerOnly.CreateParentDirectory(Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IngestException("ingest.keys_file", ErrorKind.Unavailable, $"The key file's folder cannot be created: {ex.Message}", ex, Path);
        }
        var deadline = DateTime.UtcNow + LockTimeout;
        while (true)
        {
            try
            {
                return new FileStream(Path + ".lock", OwnerOnly.Options(FileMode.OpenOrCreate, FileAccess.ReadWrite));
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                throw new IngestException("ingest.keys_file", ErrorKind.Unavailable,
                    $"Another `pinpipe keys` command has held the key file's lock for {LockTimeout.TotalSeconds:0} s; try again", ex, Path + ".lock");
            }
        }
    }

    private static int IndexOf(IReadOnlyList<ApiKey> keys, string name)
    {
        for (int i = 0; i < keys.Count; i++)
            if (string.Equals(keys[i].Name, name, StringComparison.Ordinal)) return i;
        return -1;
    }

    private static DateTimeOffset Now()
    {
        var now = DateTimeOffset.UtcNow;
        return new DateTimeOffset(now.Ticks - now.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
    }

    private static IngestException Invalid(string message) => new("ingest.key_invalid", ErrorKind.BadInput, message);
}

/// <summary>The keys of the key file with the SHA-256 of each one's secret, at one moment: what requests are checked against.</summary>
internal sealed class KeySet
{
    public KeySet(IReadOnlyList<ApiKey> keys, IReadOnlyList<byte[]> hashes)
    {
        Keys = keys;
        Hashes = hashes;
    }

    public static KeySet Empty { get; } = new([], []);

    public IReadOnlyList<ApiKey> Keys { get; }

    public IReadOnlyList<byte[]> Hashes { get; }

    /// <summary>Whether some key is not revoked.</summary>
    public bool AnyValid => Keys.Any(k => !k.Revoked);

    /// <summary>
    /// The key whose secret is <paramref name="secret"/> (revoked or not), or null. Every stored hash is compared, each in
    /// constant time, whichever matches: the time taken depends only on how many keys there are.
    /// </summary>
    public ApiKey? Find(string secret)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        KeyStore.Hash(secret, hash);
        ApiKey? found = null;
        for (int i = 0; i < Keys.Count; i++)
            if (CryptographicOperations.FixedTimeEquals(hash, Hashes[i])) found = Keys[i];
        return found;
    }
}
