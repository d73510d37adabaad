using System.Net;
using System.Net.Http.Headers;
using System.Runtime.Versioning;
using System.Text;
using PinPipe.Ingest.Keys;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>
/// <c>pinpipe keys create|list|revoke</c>, <c>serve</c> beyond loopback, <c>emulate --api-key</c> and <c>up</c>'s own key,
/// as a user runs them (the CLI as a process).
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class KeysCommandTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    /// <summary>The key a successful <c>keys create</c> printed: its one line starting with the prefix.</summary>
    private static string KeyIn(string output) =>
        Assert.Single(output.Split('\n', StringSplitOptions.TrimEntries), l => l.StartsWith(KeyStore.SecretPrefix, StringComparison.Ordinal));

    [Fact]
    public async Task Create_prints_the_key_once_list_shows_everything_but_keys_and_hashes_and_revoke_marks_it()
    {
        using var dir = new TempDirectory("cli-keys");
        string file = Path.Combine(dir.Path, ".pinpipe", "keys.json");

        var (code, output) = await CliProcess.RunWithUmaskAsync("000", dir.Path, Timeout, "keys", "create", "ci", "--topics", "u1.*,streaming-u1-*", "--rate-limit", "100/s");
        Assert.True(code == 0, output);
        string key = KeyIn(output);
        Assert.Contains("Created key 'ci' (scope produce, topics u1.*,streaming-u1-*, rate limit 100/s). It is shown once, above, and never again", output, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        string stored = await File.ReadAllTextAsync(file);
        Assert.DoesNotContain(key, stored, StringComparison.Ordinal);
        Assert.DoesNotContain(key[KeyStore.SecretPrefix.Length..], stored, StringComparison.Ordinal);

        var (adminCode, adminOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "keys", "create", "ops", "--scope", "admin");
        Assert.True(adminCode == 0, adminOutput);
        string adminKey = KeyIn(adminOutput);
        var (webCode, webOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "keys", "create", "web");
        Assert.True(webCode == 0, webOutput);
        Assert.Contains("Created key 'web' (scope produce, topics *, rate limit none).", webOutput, StringComparison.Ordinal);

        var (listCode, list) = await CliProcess.RunAsync(dir.Path, Timeout, "keys", "list");
        Assert.True(listCode == 0, list);
        var lines = list.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Matches(@"^ci\s+produce\s+u1\.\*,streaming-u1-\*\s+100/s\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+-$", Assert.Single(lines, l => l.StartsWith("ci ", StringComparison.Ordinal)));
        Assert.Matches(@"^ops\s+admin\s+\*\s+-\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+-$", Assert.Single(lines, l => l.StartsWith("ops ", StringComparison.Ordinal)));
        Assert.Matches(@"^web\s+produce\s+\*\s+-\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+-$", Assert.Single(lines, l => l.StartsWith("web ", StringComparison.Ordinal)));
        foreach (string secret in new[] { key, adminKey, KeyIn(webOutput) })
            Assert.DoesNotContain(secret[KeyStore.SecretPrefix.Length..], list, StringComparison.Ordinal);
        Assert.DoesNotContain(KeyStore.SecretPrefix, list, StringComparison.Ordinal);
        Assert.DoesNotContain(System.Text.Json.JsonDocument.Parse(stored).RootElement.GetProperty("keys")[0].GetProperty("sha256").GetString()!, list, StringComparison.Ordinal);

        var (revokeCode, revoke) = await CliProcess.RunAsync(dir.Path, Timeout, "keys", "revoke", "ci");
        Assert.True(revokeCode == 0, revoke);
        Assert.Contains("Key 'ci' revoked: requests carrying it are refused from now on.", revoke, StringComparison.Ordinal);
        var (_, after) = await CliProcess.RunAsync(dir.Path, Timeout, "keys");
        Assert.Matches(@"(?m)^ci\s+produce\s+\S+\s+100/s\s+\S+ \S+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\r?$", after);
        Assert.True(new KeyStore(file).Verify(key)!.Revoked);
    }

    [Theory]
    [InlineData(2, "--scope: 'owner' must be produce or admin.", "keys|create|x|--scope|owner")]
    [InlineData(2, "error: Key name 'a b' must be 1 to 64 letters, digits, '.', '_' or '-'.", "keys|create|a b")]
    [InlineData(2, "error: --topics: 'u1/*' may hold only letters, digits, '.', '_', '-' and '*'.", "keys|create|x|--topics|u1/*")]
    [InlineData(2, "an admin key may produce anywhere", "keys|create|x|--scope|admin|--topics|u1.*")]
    [InlineData(2, "--rate-limit: '0/s' must be a whole number of requests per second from 1 to 1000000, e.g. 100/s.", "keys|create|x|--rate-limit|0/s")]
    [InlineData(2, "--rate-limit: 'fast' must be", "keys|create|x|--rate-limit|fast")]
    [InlineData(1, "error: A key named 'ci' already exists; choose another name", "keys|create|ci")]
    [InlineData(1, "error: No key is named 'nosuch' (the keys: ci); nothing was revoked", "keys|revoke|nosuch")]
    public async Task Bad_input_is_one_error_line_and_a_documented_exit_code_and_changes_nothing(int expected, string message, string commandLine)
    {
        using var dir = new TempDirectory("cli-keys");
        var (created, createOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "keys", "create", "ci");
        Assert.True(created == 0, createOutput);
        string file = Path.Combine(dir.Path, ".pinpipe", "keys.json");
        string before = await File.ReadAllTextAsync(file);

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, commandLine.Split('|'));
        Assert.True(code == expected, output);
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.DoesNotContain(KeyStore.SecretPrefix, output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllTextAsync(file));
    }

    [Fact]
    public async Task Serve_beyond_loopback_refuses_to_start_without_a_key_and_starts_with_allow_anonymous()
    {
        using var dir = new TempDirectory("cli-keys");
        int port = CliProcess.FreePort();
        string url = $"http://0.0.0.0:{port}";

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "serve", "--urls", url, "--user-id", "u1");
        Assert.True(code == 2, output);
        Assert.Contains($"error: The API would listen on {url}, beyond loopback, with no API key defined", output, StringComparison.Ordinal);
        Assert.Contains("`pinpipe keys create NAME`", output, StringComparison.Ordinal);
        Assert.Contains("--allow-anonymous (Ingest:AllowAnonymous)", output, StringComparison.Ordinal);

        await using var serve = CliProcess.Start(dir.Path, "serve", "--urls", url, "--user-id", "u1", "--allow-anonymous");
        await serve.WaitHealthyAsync(new Uri($"http://127.0.0.1:{port}/healthz"), Timeout);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        using (var body = new StringContent("""{"records":[{"value":{"index":1}}]}""", Encoding.UTF8))
        {
            body.Headers.ContentType = MediaTypeHeaderValue.Parse("application/vnd.kafka.json.v2+json");
            using var response = await client.PostAsync("topics/u1.pin", body);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(0, await serve.InterruptAsync(Timeout));
    }

    [Fact]
    public async Task Emulate_posts_with_the_key_from_the_environment_to_a_serve_that_needs_keys()
    {
        using var dir = new TempDirectory("cli-keys");
        string url = $"http://127.0.0.1:{CliProcess.FreePort()}";
        var (seeded, seedOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "seed", "--rows", "30");
        Assert.True(seeded == 0, seedOutput);
        var (created, createOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "keys", "create", "emulator");
        Assert.True(created == 0, createOutput);
        string key = KeyIn(createOutput);

        await using var serve = CliProcess.Start(dir.Path, "serve", "--urls", url, "--user-id", "u1");
        await serve.WaitHealthyAsync(new Uri(url + "/healthz"), Timeout);

        var (refused, refusedOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "emulate", "--api-url", url, "--user-id", "u1", "--count", "5");
        Assert.True(refused == 1, refusedOutput);
        Assert.Contains("HTTP 403", refusedOutput, StringComparison.Ordinal);

        var (code, output) = await CliProcess.RunWithEnvironmentAsync(new Dictionary<string, string?> { ["PINPIPE_Emulator__ApiKey"] = key }, dir.Path, Timeout,
            "emulate", "--api-url", url, "--user-id", "u1", "--count", "5");
        Assert.True(code == 0, output);
        Assert.Contains(" acknowledged, 0 failed attempts", output, StringComparison.Ordinal);
        Assert.DoesNotContain(key, output, StringComparison.Ordinal);
        Assert.DoesNotContain(key, serve.Output, StringComparison.Ordinal);
        Assert.Equal(0, await serve.InterruptAsync(Timeout));
    }

    [Fact]
    public async Task Up_makes_a_key_for_its_emulators_when_keys_exist_and_reuses_it_next_time()
    {
        using var dir = new TempDirectory("cli-keys");
        var (created, createOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "keys", "create", "someone");
        Assert.True(created == 0, createOutput);

        string upKey = Path.Combine(dir.Path, ".pinpipe", "up.key");
        var kept = new List<string>();
        for (int run = 0; run < 2; run++)
        {
            var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout,
                "up", "--records", "5", "--rows", "30", "--lanes", "batch", "--skip-batch", "--urls", $"http://127.0.0.1:{CliProcess.FreePort()}", "--user-id", "u1");
            Assert.True(code == 0, output);
            Assert.Contains("The API needs keys: the emulators use key 'pinpipe-up'", output, StringComparison.Ordinal);
            Assert.Contains(" acknowledged, 0 failed attempts", output, StringComparison.Ordinal);
            kept.Add((await File.ReadAllTextAsync(upKey)).Trim());
            Assert.DoesNotContain(kept[^1], output, StringComparison.Ordinal);
        }
        Assert.Equal(kept[0], kept[1]);
        var store = new KeyStore(Path.Combine(dir.Path, ".pinpipe", "keys.json"));
        Assert.Equal(["someone", "pinpipe-up"], store.List().Select(k => k.Name));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(upKey));
        Assert.Equal(KeyScope.Produce, store.Verify(kept[0])!.Scope);
    }
}
