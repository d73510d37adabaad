namespace PinPipe.Tests.Support;

/// <summary>The repository stands on its own: the test data is in it and reaches the test output, nothing reads a folder beside it.</summary>
public sealed class TestDataTests
{
    private static readonly EnumerationOptions AllFiles = new() { RecurseSubdirectories = true, AttributesToSkip = 0 };

    private static string SourceData => Path.Combine(TestData.RepoRoot, "tests", "PinPipe.Tests", "Data");

    [Fact]
    public void The_test_data_of_the_repository_is_in_the_output_byte_for_byte()
    {
        Assert.True(Directory.Exists(SourceData), SourceData + " is missing");
        string[] files = [.. Directory.EnumerateFiles(SourceData, "*", AllFiles).Select(f => Path.GetRelativePath(SourceData, f)).Order(StringComparer.Ordinal)];
        string[] copied = [.. Directory.EnumerateFiles(TestData.Root, "*", AllFiles).Select(f => Path.GetRelativePath(TestData.Root, f)).Order(StringComparer.Ordinal)];
        Assert.Equal(files, copied);
        foreach (string file in files)
            Assert.True(File.ReadAllBytes(Path.Combine(SourceData, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(TestData.Root, file))), file);

        // What the tests read, and the licence of the Delta Lake project's tables beside them.
        foreach (string file in new[] { "README.md", "fixtures/counts.json", "fixtures/raw/pin.jsonl", "fixtures/clean/user.jsonl", "delta/README.md", "delta/LICENSE", "delta/NOTICE" })
            Assert.Contains(file.Replace('/', Path.DirectorySeparatorChar), files);
        Assert.Contains("Apache License", File.ReadAllText(Path.Combine(TestData.Root, "delta", "LICENSE")), StringComparison.Ordinal);
        Assert.Contains("Delta Lake", File.ReadAllText(Path.Combine(TestData.Root, "delta", "NOTICE")), StringComparison.Ordinal);
        Assert.Contains(Path.Combine("delta", "kernel-timestamp-INT96", "part=2021-10-01 08%3A09%3A20"), string.Join('\n', files), StringComparison.Ordinal);
    }

    [Fact]
    public void Nothing_in_the_repository_reads_a_folder_beside_it()
    {
        string[] needles = [".." + "/shared", ".." + "\\shared", "TEST_PINPIPE_" + "SHARED", "/work/" + "shared"];
        string[] skipped = ["bin", "obj", ".git", "Data", "data", ".pinpipe", "results", "TestResults", "node_modules"];
        string[] textFiles = [".cs", ".csproj", ".props", ".slnx", ".sh", ".py", ".md", ".json", ".yml", ".yaml", ".txt", ".cfg", ".ini", ".toml"];
        var offenders = new List<string>();
        var pending = new Stack<string>([TestData.RepoRoot]);
        int read = 0;
        while (pending.TryPop(out string? dir))
        {
            foreach (string sub in Directory.EnumerateDirectories(dir))
                if (!skipped.Contains(Path.GetFileName(sub), StringComparer.Ordinal)) pending.Push(sub);
            foreach (string file in Directory.EnumerateFiles(dir).Where(f => textFiles.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase)))
            {
                read++;
                string text = File.ReadAllText(file);
                offenders.AddRange(needles.Where(n => text.Contains(n, StringComparison.Ordinal)).Select(n => Path.GetRelativePath(TestData.RepoRoot, file) + ": " + n));
            }
        }
        Assert.True(read > 100, $"only {read} files read under {TestData.RepoRoot}");
        Assert.Empty(offenders);
    }
}
