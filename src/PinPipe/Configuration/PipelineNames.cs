namespace PinPipe.Configuration;

/// <summary>The names of SPEC §1, derived from one user id.</summary>
public sealed record PipelineNames(string UserId)
{
    public string PinTopic => $"{UserId}.pin";
    public string GeoTopic => $"{UserId}.geo";
    public string UserTopic => $"{UserId}.user";

    /// <summary>The batch lane's topics: pin, geo, user.</summary>
    public IReadOnlyList<string> Topics => [PinTopic, GeoTopic, UserTopic];

    public string PinStream => $"streaming-{UserId}-pin";
    public string GeoStream => $"streaming-{UserId}-geo";
    public string UserStream => $"streaming-{UserId}-user";

    /// <summary>The streaming lane's streams: pin, geo, user.</summary>
    public IReadOnlyList<string> Streams => [PinStream, GeoStream, UserStream];

    public string Bucket => $"user-{UserId}-bucket";
}
