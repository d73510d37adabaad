using System.Security.Cryptography;
using System.Text;
using PinPipe.Ingest;
using PinPipe.Ingest.Keys;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Ingest.Keys;

/// <summary>The key file: keys round-trip, only their hashes are stored, the file is owner-only, and bad input is refused.</summary>
public sealed class KeyStoreTests
{
    [Fact]
    public async Task A_created_key_round_trips_and_verifies_and_the_file_holds_only_its_hash()
    {
        using var dir = new TempDirectory("keys");
        var store = new KeyStore(dir.File("data/keys.json"));

        var (key, secret) = await store.CreateAsync("ci", KeyScope.Produce, "u1.*,streaming-u1-*");
        var (admin, adminSecret) = await store.CreateAsync("ops", KeyScope.Admin, null);

        Assert.StartsWith(KeyStore.SecretPrefix, secret, StringComparison.Ordinal);
        Assert.Equal(KeyStore.SecretBytes, System.Buffers.Text.Base64Url.DecodeFromChars(secret.AsSpan(KeyStore.SecretPrefix.Length)).Length);
        Assert.NotEqual(secret, adminSecret);

        // A second store over the same file (another process) reads the same keys back.
        var again = new KeyStore(dir.File("data/keys.json"));
        var listed = again.List();
        Assert.Equal(["ci", "ops"], listed.Select(k => k.Name));
        Assert.Equal(key, listed[0]);
        Assert.Equal(admin, listed[1]);
        Assert.Equal("u1.*,streaming-u1-*", listed[0].Topics);
        Assert.Equal(KeyScope.Admin, listed[1].Scope);
        Assert.False(listed[0].Revoked);
        Assert.Equal(key, again.Verify(secret));
        Assert.Equal(admin, again.Verify(adminSecret));
        Assert.Null(again.Verify(secret + "x"));
        Assert.Null(again.Verify(""));

        string text = await File.ReadAllTextAsync(store.Path);
        Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        Assert.DoesNotContain(secret[KeyStore.SecretPrefix.Length..], text, StringComparison.Ordinal);
        Assert.DoesNotContain(adminSecret[KeyStore.SecretPrefix.Length..], text, StringComparison.Ordinal);
        Assert.Contains(Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(secret))), text, StringComparison.Ordinal);
        // Replaced whole, by rename: no temporary file is left behind.
        Assert.Equal(["keys.json", "keys.json.lock"], Directory.GetFiles(dir.File("data")).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_key_file_and_its_folder_are_owner_only()
    {
        if (OperatingSystem.IsWindows()) return;
        using var dir = new TempDirectory("keys");
        var store = new KeyStore(dir.File("data/keys.json"));
        await store.CreateAsync("ci", KeyScope.Produce, null);
        await store.RevokeAsync("ci");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.Path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(dir.File("data")));
    }

    [Fact]
    public async Task A_revoked_key_still_verifies_as_revoked_and_revoking_again_changes_nothing()
    {
        using var dir = new TempDirectory("keys");
        var store = new KeyStore(dir.File("keys.json"));
        var (_, secret) = await store.CreateAsync("ci", KeyScope.Produce, null);

        var revoked = await store.RevokeAsync("ci");
        Assert.True(revoked.Revoked);
        Assert.True(store.Verify(secret)!.Revoked);
        string before = await File.ReadAllTextAsync(store.Path);
        Assert.Equal(revoked, await store.RevokeAsync("ci"));
        Assert.Equal(before, await File.ReadAllTextAsync(store.Path));
    }

    [Fact]
    public async Task Bad_names_patterns_duplicates_and_unknown_names_are_refused_and_change_nothing()
    {
        using var dir = new TempDirectory("keys");
        var store = new KeyStore(dir.File("keys.json"));
        await store.CreateAsync("ci", KeyScope.Produce, null);
        string before = await File.ReadAllTextAsync(store.Path);

        foreach (string name in new[] { "", "a b", "a/b", "ключ", new string('a', KeyStore.MaxNameLength + 1) })
        {
            var bad = await Assert.ThrowsAsync<IngestException>(() => store.CreateAsync(name, KeyScope.Produce, null));
            Assert.Equal("ingest.key_invalid", bad.ErrorCode);
            Assert.Equal(PinPipe.Errors.ErrorKind.BadInput, bad.Kind);
            Assert.Contains("letters, digits, '.', '_' or '-'", bad.Message, StringComparison.Ordinal);
        }
        foreach (string topics in new[] { "", "a,,b", "a b", "a/*" })
            Assert.Equal("ingest.key_invalid", (await Assert.ThrowsAsync<IngestException>(() => store.CreateAsync("x", KeyScope.Produce, topics))).ErrorCode);
        Assert.Contains("admin key may produce anywhere", (await Assert.ThrowsAsync<IngestException>(() => store.CreateAsync("x", KeyScope.Admin, "a*"))).Message, StringComparison.Ordinal);

        var duplicate = await Assert.ThrowsAsync<IngestException>(() => store.CreateAsync("ci", KeyScope.Admin, null));
        Assert.Equal("ingest.key_exists", duplicate.ErrorCode);
        Assert.Contains("A key named 'ci' already exists", duplicate.Message, StringComparison.Ordinal);

        var unknown = await Assert.ThrowsAsync<IngestException>(() => store.RevokeAsync("nosuch"));
        Assert.Equal("ingest.key_unknown", unknown.ErrorCode);
        Assert.Contains("No key is named 'nosuch' (the keys: ci)", unknown.Message, StringComparison.Ordinal);

        Assert.Equal(before, await File.ReadAllTextAsync(store.Path));
    }

    [Fact]
    public async Task A_key_file_that_is_not_one_is_an_error_naming_it()
    {
        using var dir = new TempDirectory("keys");
        var store = new KeyStore(dir.File("keys.json"));
        await File.WriteAllTextAsync(store.Path, """{"format": 1, "keys": [{"name": "x"}]}""");
        var error = Assert.Throws<IngestException>(store.List);
        Assert.Equal("ingest.keys_file", error.ErrorCode);
        Assert.Equal(store.Path, error.Where);
        await Assert.ThrowsAsync<IngestException>(() => store.CreateAsync("y", KeyScope.Produce, null));
    }

    [Fact]
    public async Task Own_key_is_made_once_and_reused_and_replaced_when_revoked()
    {
        using var dir = new TempDirectory("keys");
        var store = new KeyStore(dir.File("keys.json"));
        string file = dir.File("up.key");

        string first = await store.OwnKeyAsync("pinpipe-up", file);
        Assert.Equal(first, await store.OwnKeyAsync("pinpipe-up", file));
        Assert.Single(store.List());
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));

        await store.RevokeAsync("pinpipe-up");
        string second = await store.OwnKeyAsync("pinpipe-up", file);
        Assert.NotEqual(first, second);
        Assert.Null(store.Verify(first));
        Assert.False(store.Verify(second)!.Revoked);
    }

    [Theory]
    [InlineData(null, "anything", true)]
    [InlineData("u1.pin", "u1.pin", true)]
    [InlineData("u1.pin", "u1.pinx", false)]
    [InlineData("u1.*", "u1.geo", true)]
    [InlineData("u1.*", "u2.geo", false)]
    [InlineData("*", "x", true)]
    [InlineData("*-pin", "streaming-u1-pin", true)]
    [InlineData("*-pin", "streaming-u1-geo", false)]
    [InlineData("a*b*c", "aXbYbZc", true)]
    [InlineData("a*b*c", "aXbYc", true)]
    [InlineData("a*b*c", "aXcYb", false)]
    [InlineData("u1.pin,streaming-*", "streaming-u1-user", true)]
    [InlineData("u1.pin,streaming-*", "u1.geo", false)]
    [InlineData("U1.*", "u1.pin", false)]
    public void Topic_patterns_match_whole_names_with_star(string? pattern, string name, bool matches) =>
        Assert.Equal(matches, TopicPattern.Matches(pattern, name));
}
