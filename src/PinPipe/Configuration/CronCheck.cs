using System.Globalization;

namespace PinPipe.Configuration;

/// <summary>
/// Says what is wrong with a cron expression Cronos refuses, naming the field: its own messages name neither the field
/// nor the range (<c>61 * * * *</c>: "minute 61 is out of range 0-59").
/// </summary>
public static class CronCheck
{
    private static readonly (string Name, int Min, int Max, string[] Names)[] Fields =
    [
        ("minute", 0, 59, []),
        ("hour", 0, 23, []),
        ("day of month", 1, 31, []),
        ("month", 1, 12, ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
        ("day of week", 0, 7, ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
    ];

    /// <summary>The problem of <paramref name="cron"/> for the setting <paramref name="key"/> (<c>Schedule:Cron</c>, <c>Maintenance:Cron</c>), or null when it is a valid 5-field expression.</summary>
    public static string? Problem(string? cron, string key = "Schedule:Cron")
    {
        if (cron is not null && Cronos.CronExpression.TryParse(cron, out _)) return null;
        const string Shape = "5 fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12) day-of-week (0-6, Sunday 0 or 7), e.g. '0 0 * * *'";
        var fields = (cron ?? "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != Fields.Length)
            return $"{key}: '{cron}' has {fields.Length} field{(fields.Length == 1 ? "" : "s")}; a cron expression has {Shape}.";
        for (int i = 0; i < fields.Length; i++)
        {
            if (FieldProblem(fields[i], Fields[i]) is { } problem) return $"{key}: '{cron}': {problem}.";
        }
        return $"{key}: '{cron}' is not a cron expression of {Shape}.";
    }

    /// <summary>What is wrong with one field (lists, ranges and steps of numbers or names, <c>*</c>, <c>?</c>), or null when its numbers are in range.</summary>
    private static string? FieldProblem(string field, (string Name, int Min, int Max, string[] Names) f)
    {
        string range = f.Name == "day of week" ? "0-6 (or 7 for Sunday)" : $"{f.Min}-{f.Max}";
        foreach (var item in field.Split(','))
        {
            var (span, step) = item.IndexOf('/', StringComparison.Ordinal) is int slash and >= 0 ? (item[..slash], item[(slash + 1)..]) : (item, null);
            if (step is not null && (!int.TryParse(step, NumberStyles.None, CultureInfo.InvariantCulture, out int s) || s < 1))
                return $"the {f.Name} field '{field}' has the step '{step}', which is not a whole number of 1 or more";
            if (span is "*" or "?") continue;
            foreach (var bound in span.Split('-'))
            {
                if (int.TryParse(bound, NumberStyles.None, CultureInfo.InvariantCulture, out int n))
                {
                    if (n < f.Min || n > f.Max) return $"the {f.Name} {n} is out of range {range}";
                }
                else if (bound.Length > 0 && !f.Names.Contains(bound, StringComparer.OrdinalIgnoreCase) && !bound.Any(c => c is 'L' or 'W' or '#' or 'l' or 'w'))
                {
                    return $"the {f.Name} field '{field}' has '{bound}', which is not a number in {range}";
                }
            }
        }
        return null;
    }
}
