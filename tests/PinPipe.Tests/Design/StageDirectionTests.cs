using PinPipe.Hosting;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Design;

/// <summary>
/// Data flows one way (DESIGN.md): a stage folder under <c>src/PinPipe/</c> may use the stages before it in
/// <see cref="Stages"/>, never those after it. Checked on the compiled assembly (every type a stage's code uses) and
/// on the source text (<c>using PinPipe.X</c> directives and fully qualified <c>PinPipe.X.</c> names).
/// </summary>
public sealed class StageDirectionTests
{
    /// <summary>
    /// The stages, upstream first (DESIGN.md). <c>Errors</c> (the exception root every stage derives from) is the first leaf. <c>Files</c> (owner-only file modes) is a leaf that every stage writing
    /// files uses, so it comes right after Configuration. Folders not present yet are fine.
    /// </summary>
    public static readonly IReadOnlyList<string> Stages =
    [
        "Errors", "Configuration", "Files", "Observability", "DuckDb", "Lake", "Log", "Source", "Transform", "Emulation", "Ingest",
        "Sink", "Streaming", "Batch", "Insights", "Maintenance", "Verify", "Scheduling", "Hosting",
    ];

    /// <summary>Downstream references not fixed yet: (file, referenced stage, why). Each must still exist (see below).</summary>
    private static readonly IReadOnlyList<(string File, string Stage, string Reason)> KnownExceptions = [];

    private static string SourceRoot => Path.Combine(TestData.RepoRoot, "src", "PinPipe");

    [Fact]
    public void Every_stage_folder_has_its_place_in_the_order()
    {
        var folders = Directory.GetDirectories(SourceRoot).Select(Path.GetFileName).Where(f => f is not ("bin" or "obj")).ToList();
        Assert.Contains("Hosting", folders);
        Assert.All(folders, f => Assert.True(Stages.Contains(f!), $"src/PinPipe/{f}/ is not in StageDirectionTests.Stages: place it in the order of DESIGN.md."));
    }

    [Fact]
    public void No_stage_uses_a_stage_after_it_in_the_compiled_code()
    {
        string assembly = typeof(PipelineHost).Assembly.Location;
        var downstream = StageReferences.InAssembly(assembly, "PinPipe", TestData.RepoRoot).Where(IsDownstream).ToList();
        var unexpected = downstream.Where(r => !IsKnown(r.File, r.To)).ToList();
        Assert.True(unexpected.Count == 0, "Stages referencing stages after them (DESIGN.md order):" + Environment.NewLine + string.Join(Environment.NewLine, unexpected));
        Assert.All(KnownExceptions, k => Assert.True(downstream.Any(r => r.File == k.File && r.To == k.Stage),
            $"The known exception {k.File} → {k.Stage} no longer occurs: remove it from StageDirectionTests.KnownExceptions."));
    }

    [Fact]
    public void No_stage_folder_names_a_stage_after_it_in_its_source()
    {
        var problems = new List<string>();
        foreach (string stage in Stages.Where(s => Directory.Exists(Path.Combine(SourceRoot, s))))
        {
            foreach (string file in Directory.EnumerateFiles(Path.Combine(SourceRoot, stage), "*.cs", SearchOption.AllDirectories))
            {
                string relative = Path.GetRelativePath(TestData.RepoRoot, file).Replace('\\', '/');
                foreach (var (line, to, what) in StageReferences.InSource(File.ReadAllText(file), "PinPipe"))
                {
                    if (IsDownstream(new StageReference(relative, line, stage, to, what)) && !IsKnown(relative, to))
                        problems.Add($"{relative}:{line}: {stage} references {to} ({what})");
                }
            }
        }
        Assert.True(problems.Count == 0, "Stages naming stages after them (DESIGN.md order):" + Environment.NewLine + string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void Every_type_lives_in_the_namespace_of_its_stage_folder()
    {
        // The compiled check goes by namespace, the folders by path: they must agree for either to mean anything.
        var problems = new List<string>();
        foreach (string stage in Stages.Where(s => Directory.Exists(Path.Combine(SourceRoot, s))))
        {
            foreach (string file in Directory.EnumerateFiles(Path.Combine(SourceRoot, stage), "*.cs", SearchOption.AllDirectories))
            {
                var ns = System.Text.RegularExpressions.Regex.Match(StageReferences.CodeOnly(File.ReadAllText(file)), @"^\s*namespace\s+([\w.]+)", System.Text.RegularExpressions.RegexOptions.Multiline);
                if (!ns.Success || !(ns.Groups[1].Value == $"PinPipe.{stage}" || ns.Groups[1].Value.StartsWith($"PinPipe.{stage}.", StringComparison.Ordinal)))
                    problems.Add($"{Path.GetRelativePath(TestData.RepoRoot, file)}: namespace {(ns.Success ? ns.Groups[1].Value : "(none)")}, expected PinPipe.{stage}");
            }
        }
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void The_compiled_check_reports_a_downstream_use_with_its_file_line_and_stage()
    {
        // The fixture's Early stage uses its Late stage in a field and in a method body (StageDirectionFixture.cs).
        string assembly = typeof(StageDirectionTests).Assembly.Location;
        var found = StageReferences.InAssembly(assembly, "PinPipe.Tests.Design.Fixture", TestData.RepoRoot);
        const string Fixture = "tests/PinPipe.Tests/Design/StageDirectionFixture.cs";
        var lines = File.ReadAllLines(Path.Combine(TestData.RepoRoot, Fixture));
        int fieldLine = 1 + Array.FindIndex(lines, l => l.Contains("// late use: field", StringComparison.Ordinal));
        int bodyLine = 1 + Array.FindIndex(lines, l => l.Contains("// late use: body", StringComparison.Ordinal));
        int parameterLine = 1 + Array.FindIndex(lines, l => l.Contains("// late use: parameter", StringComparison.Ordinal));

        var early = found.Where(r => r.From == "Early").ToList();
        Assert.Contains(new StageReference(Fixture, fieldLine, "Early", "Late", "PinPipe.Tests.Design.Fixture.Late.LateThing"), early);
        Assert.Contains(new StageReference(Fixture, bodyLine, "Early", "Late", "PinPipe.Tests.Design.Fixture.Late.LateThing"), early);
        Assert.Contains(new StageReference(Fixture, parameterLine, "Early", "Late", "PinPipe.Tests.Design.Fixture.Late.LateThing"), early);
        Assert.All(early, r => Assert.Equal("Late", r.To));
        Assert.Contains(found, r => r is { From: "Late", To: "Early" }); // the other way is found too (and allowed by the order)
        Assert.Equal("tests/PinPipe.Tests/Design/StageDirectionFixture.cs:" + bodyLine + ": Early references Late (PinPipe.Tests.Design.Fixture.Late.LateThing)",
            early.Single(r => r.Line == bodyLine).ToString());
    }

    [Fact]
    public void The_source_check_finds_usings_and_qualified_names_but_not_comments_or_strings()
    {
        const string Text = """
            using System.Text;
            using PinPipe.Hosting;
            global using static PinPipe.Batch.BatchJob;
            using Alias = PinPipe.Insights.InsightEngine;
            // using PinPipe.Scheduling;
            /* using PinPipe.Verify;
               PinPipe.Verify.Thing */
            namespace PinPipe.Streaming;
            class C
            {
                string s = "PinPipe.Maintenance.Thing";
                string v = @"using PinPipe.Maintenance;
            PinPipe.Maintenance.X";
                char q = '"';
                object o = new global::PinPipe.Lake.Delta.DeltaTable();
                object p = PinPipe.Sink.S3SinkConnector.Create();
            }
            """;
        var found = StageReferences.InSource(Text, "PinPipe").Select(f => (f.Line, f.Stage)).ToList();
        Assert.Equal([(2, "Hosting"), (3, "Batch"), (4, "Insights"), (15, "Lake"), (16, "Sink")], found);
    }

    private static bool IsDownstream(StageReference r)
    {
        int from = IndexOf(r.From), to = IndexOf(r.To);
        return to > from;
    }

    /// <summary>A stage's place in the order; a namespace that is not a stage sorts last, so a stage using it is reported.</summary>
    private static int IndexOf(string stage) => Stages.Contains(stage) ? Stages.ToList().IndexOf(stage) : Stages.Count;

    private static bool IsKnown(string file, string stage) => KnownExceptions.Any(k => k.File == file && k.Stage == stage);
}
