using System.Globalization;
using System.Text.RegularExpressions;

namespace PinPipe.Tests.Support;

/// <summary>One sample of Prometheus's text exposition format: a name, its labels and its value.</summary>
internal sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>Reads Prometheus's text exposition format (what <c>GET /metrics</c> answers) into samples, strictly: a line it cannot read fails the test.</summary>
internal static partial class PrometheusText
{
    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>\S+)( \d+)?$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex("""(?<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?<value>(\\.|[^"\\])*)",?""")]
    private static partial Regex LabelPair();

    /// <summary>This process's metrics, as <c>GET /metrics</c> would answer them.</summary>
    public static async Task<List<PrometheusSample>> ScrapeProcessAsync()
    {
        using var body = new MemoryStream();
        await PinPipe.Observability.MetricsExport.WriteAsync(body);
        return Parse(System.Text.Encoding.UTF8.GetString(body.ToArray()));
    }

    /// <summary>The value of the one sample with exactly these labels, or 0 when there is none (a counter not yet incremented).</summary>
    public static double ValueOrZero(this IEnumerable<PrometheusSample> samples, string name, params string[] labels) =>
        samples.Find(name, labels).Where(s => s.Labels.Count == labels.Length).Select(s => s.Value).SingleOrDefault();

    public static List<PrometheusSample> Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var m = SampleLine().Match(line);
            Assert.True(m.Success, $"not a Prometheus sample line: {line}");
            var labels = new Dictionary<string, string>();
            foreach (Match pair in LabelPair().Matches(m.Groups["labels"].Value))
                labels[pair.Groups["key"].Value] = pair.Groups["value"].Value.Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\n", "\n", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);
            string value = m.Groups["value"].Value;
            double v = value switch { "+Inf" => double.PositiveInfinity, "-Inf" => double.NegativeInfinity, "NaN" => double.NaN, _ => double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture) };
            samples.Add(new PrometheusSample(m.Groups["name"].Value, labels, v));
        }
        return samples;
    }

    /// <summary>The samples named <paramref name="name"/> whose labels include every pair of <paramref name="labels"/> ("key=value").</summary>
    public static IEnumerable<PrometheusSample> Find(this IEnumerable<PrometheusSample> samples, string name, params string[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l =>
        {
            int eq = l.IndexOf('=', StringComparison.Ordinal);
            return s.Labels.TryGetValue(l[..eq], out var v) && v == l[(eq + 1)..];
        }));

    /// <summary>The one sample named <paramref name="name"/> with exactly the labels <paramref name="labels"/> (besides none); fails when there is not exactly one.</summary>
    public static double Value(this IEnumerable<PrometheusSample> samples, string name, params string[] labels)
    {
        var found = samples.Find(name, labels).Where(s => s.Labels.Count == labels.Length).ToList();
        Assert.True(found.Count == 1, $"{found.Count} samples of {name}{{{string.Join(",", labels)}}}");
        return found[0].Value;
    }
}
