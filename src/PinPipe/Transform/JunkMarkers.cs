namespace PinPipe.Transform;

/// <summary>
/// The junk markers of the cleaning rules, SPEC §4 pin rule 2: "Values that carry no data become null: title
/// <c>No Title Data Available</c>; description <c>No description available Story format</c>,
/// <c>No description available</c>, <c>Untitled</c>; poster_name <c>User Info Error</c>; follower_count
/// <c>User Info Error</c>; tag_list <c>N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e</c>; image_src <c>Image src error.</c>"
/// (and, in every string column, the empty or all-whitespace string, which is no marker).
/// </summary>
/// <remarks>
/// A marker is nulled in its own column only and matches exactly (case and spaces): <c>Untitled</c> in title is a
/// title. <see cref="CleaningRules"/> applies them; they are the placeholders of the original project's real data,
/// which the synthetic generator (SPEC §2) writes at a few percent each.
/// </remarks>
public static class JunkMarkers
{
    /// <summary>title: <c>No Title Data Available</c>.</summary>
    public const string NoTitle = "No Title Data Available";

    /// <summary>description: <c>No description available Story format</c> (the real data's story pins have it).</summary>
    public const string NoDescriptionStory = "No description available Story format";

    /// <summary>description: <c>No description available</c>.</summary>
    public const string NoDescription = "No description available";

    /// <summary>description: <c>Untitled</c>.</summary>
    public const string Untitled = "Untitled";

    /// <summary>poster_name and follower_count (together, as in the real data): <c>User Info Error</c>.</summary>
    public const string UserInfoError = "User Info Error";

    /// <summary>tag_list: <c>N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e</c> ("No Tags Available" split at every character).</summary>
    public const string NoTags = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e";

    /// <summary>image_src: <c>Image src error.</c></summary>
    public const string ImageSrcError = "Image src error.";

    /// <summary>Each pin column that has markers, with its markers, in SPEC §4's order.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> ByColumn { get; } = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal)
    {
        ["title"] = [NoTitle],
        ["description"] = [NoDescriptionStory, NoDescription, Untitled],
        ["poster_name"] = [UserInfoError],
        ["follower_count"] = [UserInfoError],
        ["tag_list"] = [NoTags],
        ["image_src"] = [ImageSrcError],
    };
}
