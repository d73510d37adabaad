using System.Net.Http.Headers;
using System.Runtime.Versioning;
using System.Text;
using PinPipe.Files;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Files;

/// <summary>
/// Everything PinPipe creates under its data folder is owner-only (0600 files, 0700 folders) whatever the umask:
/// the real CLI runs under umask 000 (the most permissive: any other umask only takes more bits away) and the
/// whole tree is walked.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class OwnerOnlyTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Serve_under_umask_000_creates_the_log_its_lock_and_its_wal_and_shm_files_owner_only()
    {
        using var dir = new TempDirectory("modes");
        string data = Path.Combine(dir.Path, ".pinpipe");
        string url = $"http://127.0.0.1:{CliProcess.FreePort()}";

        // Looked at while the log is open: SQLite's -wal and -shm files exist only then.
        await using (var serve = CliProcess.StartWithUmask("000", dir.Path, "serve", "--urls", url, "--user-id", "u5"))
        {
            await serve.WaitHealthyAsync(new Uri(url + "/healthz"), Timeout);
            using var client = new HttpClient { BaseAddress = new Uri(url) };
            using var body = new StringContent("""{"records":[{"value":{"index":1}}]}""", Encoding.UTF8);
            body.Headers.ContentType = MediaTypeHeaderValue.Parse("application/vnd.kafka.json.v2+json");
            using (var response = await client.PostAsync("topics/u5.pin", body))
                Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            foreach (string file in new[] { "log.db", "log.db-wal", "log.db-shm", "log.db.lock" })
                Assert.True(File.Exists(Path.Combine(data, file)), file);
            AssertOwnerOnly(data);
            Assert.Equal(0, await serve.InterruptAsync(Timeout));
        }
    }

    [Fact]
    public async Task Up_under_umask_000_creates_only_owner_only_files_and_folders_in_the_data_folder()
    {
        using var dir = new TempDirectory("modes");
        string data = Path.Combine(dir.Path, ".pinpipe");
        string url = $"http://127.0.0.1:{CliProcess.FreePort()}";

        // The source database, the log, the sink's objects, the Delta tables of both lanes, the batch run's files, the run history and its lock.
        var (code, output) = await CliProcess.RunWithUmaskAsync("000", dir.Path, Timeout,
            "up", "--records", "50", "--rows", "200", "--urls", url, "--user-id", "u5");
        Assert.True(code == 0, output);
        string bucket = Path.Combine(data, "buckets", "user-u5-bucket");
        // The run's folder, and the insights' aggregates kept between runs (made owner-only too: checked below).
        string run = Assert.Single(Directory.GetDirectories(Path.Combine(data, "runs")), d => Path.GetFileName(d) != ".insights");
        Assert.True(File.Exists(Path.Combine(data, "runs", ".insights", "state.json")));
        foreach (string path in new[]
        {
            Path.Combine(data, "source.db"), Path.Combine(data, "runs.db"), Path.Combine(data, "runs.db.lock"),
            Path.Combine(bucket, "topics", "u5.pin", "partition=0", "u5.pin+0+0000000000.json"),
            Path.Combine(bucket, "delta", "pin", "_delta_log", "00000000000000000000.json"),
            Path.Combine(bucket, "delta", "u5_pin_table", "_delta_log", "00000000000000000000.json"),
            Path.Combine(run, "report.html"), Path.Combine(run, "summary.json"),
            Path.Combine(run, "insights", "01-popular-category-per-country.csv"),
        })
            Assert.True(File.Exists(path), path);
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(bucket, "delta", "pin"), "*.parquet")); // written by DuckDB, published by the store
        AssertOwnerOnly(data);
    }

    [Fact]
    public async Task Folders_are_made_0700_with_their_missing_parents_and_files_0600_while_existing_ones_keep_their_mode()
    {
        Assert.Equal((Mode("700"), Mode("600")), (OwnerOnly.FolderMode, OwnerOnly.FileMode));
        using var dir = new TempDirectory("modes");
        string existing = Path.Combine(dir.Path, "shared");
        Directory.CreateDirectory(existing);
        File.SetUnixFileMode(existing, Mode("755"));

        string deep = Path.Combine(existing, "a", "b", "c");
        OwnerOnly.CreateDirectory(deep);
        string file = Path.Combine(deep, "x.json");
        await OwnerOnly.WriteAllBytesAsync(file, "{}"u8.ToArray());
        string db = Path.Combine(deep, "x.db");
        OwnerOnly.CreateFileIfMissing(db);

        Assert.Equal(Mode("755"), File.GetUnixFileMode(existing));
        AssertOwnerOnly(Path.Combine(existing, "a"));
        Assert.Equal("{}", await File.ReadAllTextAsync(file));
        Assert.Equal(0, new FileInfo(db).Length);

        // An existing file is neither truncated nor re-moded.
        await File.WriteAllTextAsync(db, "data");
        File.SetUnixFileMode(db, Mode("640"));
        OwnerOnly.CreateFileIfMissing(db);
        Assert.Equal("data", await File.ReadAllTextAsync(db));
        Assert.Equal(Mode("640"), File.GetUnixFileMode(db));
    }

    /// <summary>The folder and everything under it: folders exactly 0700, files exactly 0600.</summary>
    private static void AssertOwnerOnly(string root)
    {
        var wrong = new List<string>();
        void Check(string path, UnixFileMode expected)
        {
            UnixFileMode mode;
            try { mode = File.GetUnixFileMode(path); }
            catch (FileNotFoundException) { return; } // a temp file removed meanwhile
            if (mode != expected) wrong.Add($"{Convert.ToString((int)mode, 8).PadLeft(3, '0')} {Path.GetRelativePath(root, path)}");
        }
        Check(root, OwnerOnly.FolderMode);
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false };
        foreach (string folder in Directory.EnumerateDirectories(root, "*", options)) Check(folder, OwnerOnly.FolderMode);
        foreach (string file in Directory.EnumerateFiles(root, "*", options)) Check(file, OwnerOnly.FileMode);
        Assert.True(wrong.Count == 0, $"not owner-only under {root}:\n{string.Join('\n', wrong)}");
    }

    private static UnixFileMode Mode(string octal) => (UnixFileMode)Convert.ToInt32(octal, 8);
}
