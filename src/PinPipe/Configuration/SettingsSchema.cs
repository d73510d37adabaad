using System.Globalization;
using System.Reflection;

namespace PinPipe.Configuration;

/// <summary>
/// The settings keys a settings type accepts (<c>Sink:FlushSize</c>, <c>Log:Kafka:&lt;any&gt;</c>, <c>Sink:Topics:0</c>), found by
/// walking its public settable properties, and what each value must look like: checks every key and value in PinPipe's
/// own words before .NET's binder sees them, so that every problem is reported at once and none in the binder's wording.
/// </summary>
public sealed class SettingsSchema
{
    private enum Kind { Section, Text, Boolean, Int32, Int64, Number, Duration, Choice, Map, List, Other }

    private sealed record Node(Kind Kind, string Key, bool Nullable, Type Type, IReadOnlyDictionary<string, Node> Children, Node? Element);

    private readonly Node _root;
    private readonly List<string> _leafKeys = [];

    public SettingsSchema(Type settingsType)
    {
        ArgumentNullException.ThrowIfNull(settingsType);
        _root = Build(settingsType, "");
    }

    /// <summary>Every key that takes a value (<c>Sink:FlushSize</c>), in declaration order.</summary>
    public IReadOnlyList<string> Keys => _leafKeys;

    private Node Build(Type type, string key)
    {
        var nullable = Nullable.GetUnderlyingType(type);
        var t = nullable ?? type;
        Node Leaf(Kind kind) { _leafKeys.Add(key); return new Node(kind, key, nullable is not null, t, Empty, null); }
        if (t == typeof(string)) return Leaf(Kind.Text);
        if (t == typeof(bool)) return Leaf(Kind.Boolean);
        if (t == typeof(int)) return Leaf(Kind.Int32);
        if (t == typeof(long)) return Leaf(Kind.Int64);
        if (t == typeof(double)) return Leaf(Kind.Number);
        if (t == typeof(TimeSpan)) return Leaf(Kind.Duration);
        if (t.IsEnum) return Leaf(Kind.Choice);
        if (t.IsGenericType && t.GetGenericArguments() is [var k, _] && k == typeof(string) && typeof(System.Collections.IDictionary).IsAssignableFrom(t))
            return Leaf(Kind.Map);
        if (t.IsGenericType && t.GetGenericArguments() is [var element] && typeof(System.Collections.IEnumerable).IsAssignableFrom(t))
        {
            var item = Build(element, key + ":<n>");
            _leafKeys.RemoveAll(k => k.StartsWith(key + ":<n>", StringComparison.Ordinal));
            _leafKeys.Add(key);
            return new Node(Kind.List, key, true, t, Empty, item);
        }
        if (t.IsClass && t != typeof(object))
        {
            var children = new Dictionary<string, Node>(StringComparer.OrdinalIgnoreCase);
            foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (!p.CanWrite || p.GetIndexParameters().Length > 0) continue;
                children[p.Name] = Build(p.PropertyType, key.Length == 0 ? p.Name : $"{key}:{p.Name}");
            }
            return new Node(Kind.Section, key, true, t, children, null);
        }
        return Leaf(Kind.Other);
    }

    private static readonly Dictionary<string, Node> Empty = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Checks one key and its value. Returns null when all is well, with <paramref name="value"/> rewritten to the form the
    /// binder reads (a duration as <c>00:00:10</c>, a number without spaces); else the problem, naming the key
    /// (<c>Sink:FlushSize: 'many' is not a whole number.</c>, <c>Sink:FlushSise: no such setting; did you mean Sink:FlushSize?</c>).
    /// A null <paramref name="value"/> (an empty JSON object) sets nothing and is never a problem for a known key.
    /// </summary>
    public string? Check(string key, ref string? value)
    {
        ArgumentNullException.ThrowIfNull(key);
        var node = Find(key);
        if (node is null) return $"{key}: no such setting{Suggest(key)}";
        if (value is null) return null;
        switch (node.Kind)
        {
            case Kind.Section or Kind.Map or Kind.List when value.Length == 0:
                value = null; // an empty JSON object or a JSON null: nothing to set
                return null;
            case Kind.Section:
                return $"{node.Key}: is a section, not a value; set its keys ({string.Join(", ", node.Children.Keys.Take(3).Select(c => $"{node.Key}:{c}"))}, ...).";
            case Kind.Map:
                return $"{node.Key}: takes named values ({node.Key}:<name>), not one value.";
            case Kind.List:
                return $"{node.Key}: is a list; give it as a JSON array in the file, or as {node.Key}:0, {node.Key}:1, ... in the environment.";
        }
        if (value.Length == 0 && (node.Nullable || node.Kind is Kind.Text or Kind.Other)) return null;
        string text = value.Trim();
        switch (node.Kind)
        {
            case Kind.Boolean:
                if (bool.TryParse(text, out var b)) { value = b ? "true" : "false"; return null; }
                return $"{node.Key}: '{value}' is not true or false.";
            case Kind.Int32:
            case Kind.Int64:
                long min = node.Kind == Kind.Int32 ? int.MinValue : long.MinValue, max = node.Kind == Kind.Int32 ? int.MaxValue : long.MaxValue;
                if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max)
                {
                    value = n.ToString(CultureInfo.InvariantCulture);
                    return null;
                }
                return text.TrimStart('-', '+').Length > 0 && text.TrimStart('-', '+').All(char.IsAsciiDigit) && text.Count(c => c is '-' or '+') <= 1
                    ? $"{node.Key}: {text} is out of range ({min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)})."
                    : $"{node.Key}: '{value}' is not a whole number.";
            case Kind.Number:
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x))
                {
                    value = x.ToString("R", CultureInfo.InvariantCulture);
                    return null;
                }
                return $"{node.Key}: '{value}' is not a number.";
            case Kind.Duration:
                if (Durations.TryParse(text, out var span)) { value = Durations.ForBinder(span); return null; }
                return $"{node.Key}: '{value}' is not a duration; use e.g. {Durations.Forms}.";
            case Kind.Choice:
                return SettingChoices.IsName(node.Type, value) ? null : SettingChoices.NotOneOf(node.Key, value, node.Type);
            default:
                return null;
        }
    }

    /// <summary>The node of <paramref name="key"/>, or null when the settings have no such key.</summary>
    private Node? Find(string key)
    {
        var node = _root;
        foreach (var segment in key.Split(':'))
        {
            switch (node.Kind)
            {
                case Kind.Section when node.Children.TryGetValue(segment, out var child):
                    node = child;
                    break;
                case Kind.Map when segment.Length > 0 && node.Element is null:
                    node = new Node(Kind.Text, $"{node.Key}:{segment}", true, typeof(string), Empty, null);
                    break;
                case Kind.List when int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out _):
                    node = node.Element! with { Key = $"{node.Key}:{segment}" };
                    break;
                default:
                    return null;
            }
        }
        return node;
    }

    /// <summary><c>; did you mean Sink:FlushSize?</c> for a key close to a real one (a typo, or the right name in another section), else <c>.</c>.</summary>
    private string Suggest(string key)
    {
        string leaf = key[(key.LastIndexOf(':') + 1)..];
        var sameName = _leafKeys.Where(k => string.Equals(k[(k.LastIndexOf(':') + 1)..], leaf, StringComparison.OrdinalIgnoreCase)).Take(3).ToList();
        if (sameName.Count > 0) return $"; did you mean {string.Join(" or ", sameName)}?";
        var near = NearNames.Near(key, _leafKeys, Math.Max(1, Math.Min(3, leaf.Length / 3)), take: 1);
        return near.Count > 0 ? $"; did you mean {near[0]}?" : ".";
    }
}
