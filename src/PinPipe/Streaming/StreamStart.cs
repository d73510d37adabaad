namespace PinPipe.Streaming;

/// <summary>Where a stream partition starts when no Delta table holds an offset for it yet (<c>Stream:From</c>; settings and flags name it in any case: <c>earliest</c>, <c>latest</c>).</summary>
public enum StreamStart
{
    /// <summary>The log's start (default).</summary>
    Earliest,

    /// <summary>The log's end when the job first starts.</summary>
    Latest,
}
