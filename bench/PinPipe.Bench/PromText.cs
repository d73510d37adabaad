using System.Globalization;

namespace PinPipe.Bench;

/// <summary>
/// One scrape of a Prometheus text exposition (<c>GET /metrics</c>): its samples as (name, labels, value), with sums
/// over series and quantiles of histograms between two scrapes.
/// </summary>
internal sealed class PromText
{
    private readonly List<(string Name, Dictionary<string, string> Labels, double Value)> _samples = [];

    public static PromText Parse(string text)
    {
        var result = new PromText();
        foreach (var raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            int brace = line.IndexOf('{', StringComparison.Ordinal);
            int space = line.LastIndexOf(' ');
            if (space <= 0) continue;
            string name = brace > 0 && brace < space ? line[..brace] : line[..space];
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (brace > 0 && brace < space)
            {
                int close = line.LastIndexOf('}', space);
                foreach (var pair in line[(brace + 1)..close].Split(',', StringSplitOptions.RemoveEmptyEntries))
                {
                    int eq = pair.IndexOf('=', StringComparison.Ordinal);
                    if (eq > 0) labels[pair[..eq]] = pair[(eq + 1)..].Trim('"');
                }
            }
            if (double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
                result._samples.Add((name, labels, value));
        }
        return result;
    }

    /// <summary>The sum of a metric's series whose labels include <paramref name="match"/> (all series when null).</summary>
    public double Sum(string name, params (string Key, string Value)[] match) =>
        _samples.Where(s => s.Name == name && match.All(m => s.Labels.TryGetValue(m.Key, out var v) && v == m.Value)).Sum(s => s.Value);

    /// <summary>A histogram's cumulative bucket counts by upper bound (<c>le</c>), summed over the series matching.</summary>
    public SortedDictionary<double, double> Buckets(string histogram, params (string Key, string Value)[] match)
    {
        var buckets = new SortedDictionary<double, double>();
        foreach (var s in _samples.Where(s => s.Name == histogram + "_bucket" && match.All(m => s.Labels.TryGetValue(m.Key, out var v) && v == m.Value)))
        {
            double le = s.Labels["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(s.Labels["le"], CultureInfo.InvariantCulture);
            buckets[le] = buckets.GetValueOrDefault(le) + s.Value;
        }
        return buckets;
    }

    /// <summary>
    /// The same cumulative counts with only the bounds <paramref name="keep"/> accepts (and <c>+Inf</c>): a histogram as if
    /// it had had fewer, wider buckets, to compare what a quantile interpolated in each layout reads.
    /// </summary>
    public static SortedDictionary<double, double> Coarsen(SortedDictionary<double, double> buckets, Func<double, bool> keep) =>
        new(buckets.Where(b => double.IsPositiveInfinity(b.Key) || keep(b.Key)).ToDictionary(b => b.Key, b => b.Value));

    /// <summary>
    /// The <paramref name="q"/>-quantile of the observations made between two scrapes of a histogram, interpolated
    /// linearly within its bucket (as Prometheus' <c>histogram_quantile</c>); NaN when nothing was observed.
    /// </summary>
    public static double Quantile(double q, SortedDictionary<double, double> before, SortedDictionary<double, double> after)
    {
        var delta = after.Select(b => (Le: b.Key, Count: b.Value - before.GetValueOrDefault(b.Key))).ToList();
        if (delta.Count == 0 || delta[^1].Count <= 0) return double.NaN;
        double rank = q * delta[^1].Count, lower = 0, below = 0;
        foreach (var (le, count) in delta)
        {
            if (count >= rank)
            {
                if (double.IsPositiveInfinity(le)) return lower;
                return lower + (le - lower) * (count - below <= 0 ? 1 : (rank - below) / (count - below));
            }
            (lower, below) = (le, count);
        }
        return lower;
    }
}
