using PinPipe.Configuration;

namespace PinPipe.Sink;

/// <summary>Settings of the S3-sink connector (configuration section <c>Sink</c>), named after Confluent's.</summary>
public sealed record SinkOptions
{
    /// <summary>Topics to sink. Default null: the user's three topics (SPEC §1).</summary>
    public IReadOnlyList<string>? Topics { get; init; }

    /// <summary>Consumer group whose offsets record what is in the bucket. Default <c>connect-pinpipe-s3-sink</c>.</summary>
    public string GroupId { get; init; } = "connect-pinpipe-s3-sink";

    /// <summary><c>topics.dir</c>: key prefix. Default <c>topics</c>.</summary>
    public string TopicsDir { get; init; } = "topics";

    /// <summary><c>flush.size</c>: records per object. Default 1000.</summary>
    public int FlushSize { get; init; } = 1000;

    /// <summary>
    /// <c>rotate.schedule.interval.ms</c>: an open object older than this (wall clock) is committed even
    /// when it holds fewer than <see cref="FlushSize"/> records. Default 10 s; null disables it.
    /// </summary>
    public TimeSpan? RotateScheduleInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest wait for new records before checking the rotation schedule. Default 500 ms.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// <c>earliest</c> moves the checkpoint of a topic that was deleted and created again (or truncated below the
    /// committed offset) to the new incarnation's start, deliberately; the sink refuses to run on such a topic otherwise.
    /// The earlier incarnation's objects must first be moved out of <c>&lt;topics.dir&gt;/&lt;topic&gt;/</c>: the new
    /// incarnation's offsets start again at 0 and would take their keys. Default null: no reset.
    /// </summary>
    public string? Reset { get; init; }

    /// <summary>
    /// A worker that has not heartbeated to its consumer group for this long is out of the group, and its partitions go to
    /// the other workers (Kafka's <c>session.timeout.ms</c>): the time a killed worker's partitions stand still. Default 10 s.
    /// </summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a worker heartbeats to its group and looks for a new assignment (<c>heartbeat.interval.ms</c>). Default null: a tenth of <see cref="SessionTimeout"/>; at most a third of it.</summary>
    public TimeSpan? HeartbeatInterval { get; init; }

    /// <summary><see cref="HeartbeatInterval"/>, or a tenth of <see cref="SessionTimeout"/> when unset.</summary>
    public TimeSpan Heartbeat => HeartbeatInterval ?? SessionTimeout / 10;

    /// <summary><c>filename.offset.zero.pad.width</c>. Default 10.</summary>
    public int OffsetZeroPadWidth { get; init; } = 10;

    public static SinkOptions Default { get; } = new();

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .Check(Topics is null || !Topics.Any(string.IsNullOrWhiteSpace), "Sink:Topics: contains a blank topic name.")
        .Check(SettingFormats.IsKeyPrefix(TopicsDir), SettingFormats.NotKeyPrefix("Sink:TopicsDir", TopicsDir, "topics"))
        .Check(FlushSize >= 1, $"Sink:FlushSize: {FlushSize} must be at least 1.")
        .Check(RotateScheduleInterval is null || RotateScheduleInterval > TimeSpan.Zero, $"Sink:RotateScheduleInterval: {Durations.Text(RotateScheduleInterval, "unset")} must be more than 0 (or unset).")
        .Check(PollInterval > TimeSpan.Zero, $"Sink:PollInterval: {Durations.Text(PollInterval)} must be more than 0.")
        .Check(!string.IsNullOrWhiteSpace(GroupId), "Sink:GroupId: must not be empty.")
        .Check(Reset is null or "earliest", $"Sink:Reset: '{Reset}' is not earliest (or unset).")
        .Check(SessionTimeout >= TimeSpan.FromMilliseconds(100) && SessionTimeout <= TimeSpan.FromMinutes(30), $"Sink:SessionTimeout: {Durations.Text(SessionTimeout)} must be 100ms to 30 minutes.")
        .Check(HeartbeatInterval is null || HeartbeatInterval > TimeSpan.Zero && HeartbeatInterval * 3 <= SessionTimeout,
            $"Sink:HeartbeatInterval: {Durations.Text(HeartbeatInterval, "unset")} must be more than 0 and at most a third of Sink:SessionTimeout ({Durations.Text(SessionTimeout)}).")
        .Check(OffsetZeroPadWidth is >= 1 and <= 19, $"Sink:OffsetZeroPadWidth: {OffsetZeroPadWidth} must be 1 to 19.")
        .ToList();
}
