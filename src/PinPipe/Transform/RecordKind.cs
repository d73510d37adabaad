namespace PinPipe.Transform;

/// <summary>The three record types of the pipeline (SPEC §2–§4): one source table, one topic and one clean table each.</summary>
public enum RecordKind
{
    /// <summary><c>pinterest_data</c>: posts, keyed by <c>index</c> (renamed <c>ind</c> when cleaned).</summary>
    Pin,

    /// <summary><c>geolocation_data</c>: where and when a post was made, keyed by <c>ind</c>.</summary>
    Geo,

    /// <summary><c>user_data</c>: who made a post, keyed by <c>ind</c>.</summary>
    User,
}
