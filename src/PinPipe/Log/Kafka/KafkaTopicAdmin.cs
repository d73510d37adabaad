using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace PinPipe.Log.Kafka;

/// <summary>How <see cref="KafkaLog"/> creates and deletes topics. The default goes through Kafka's Admin API.</summary>
internal interface IKafkaTopicAdmin
{
    /// <summary>Creates the topic; throws <see cref="LogException"/> on failure. An existing topic is not an error.</summary>
    Task CreateAsync(string topic, int partitions, short replicationFactor, IReadOnlyDictionary<string, string> configs, CancellationToken cancellationToken);

    /// <summary>Deletes the topic; a missing topic is not an error.</summary>
    Task DeleteAsync(string topic, CancellationToken cancellationToken);
}

/// <summary>Topics through <see cref="IAdminClient.CreateTopicsAsync"/> and <see cref="IAdminClient.DeleteTopicsAsync"/>.</summary>
internal sealed class AdminClientTopicAdmin(IAdminClient admin, TimeSpan timeout) : IKafkaTopicAdmin
{
    public async Task CreateAsync(string topic, int partitions, short replicationFactor, IReadOnlyDictionary<string, string> configs, CancellationToken cancellationToken)
    {
        var spec = new TopicSpecification
        {
            Name = topic,
            NumPartitions = partitions,
            ReplicationFactor = replicationFactor,
            Configs = configs.ToDictionary(),
        };
        try
        {
            await admin.CreateTopicsAsync([spec], new CreateTopicsOptions { RequestTimeout = timeout, OperationTimeout = timeout }).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (CreateTopicsException ex) when (ex.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
        }
        catch (CreateTopicsException ex)
        {
            var error = ex.Results.First(r => r.Error.IsError).Error;
            throw error.Code switch
            {
                ErrorCode.TopicException or ErrorCode.InvalidPartitions or ErrorCode.InvalidReplicationFactor or ErrorCode.InvalidConfig or ErrorCode.InvalidRequest =>
                    new LogException(LogErrorCode.InvalidTopic, $"Kafka refused to create topic '{topic}': {error.Reason}", ex),
                _ => LogErrors.Unavailable($"create topic '{topic}'", ex),
            };
        }
        catch (KafkaException ex)
        {
            throw LogErrors.Unavailable($"create topic '{topic}'", ex);
        }
    }

    public async Task DeleteAsync(string topic, CancellationToken cancellationToken)
    {
        try
        {
            await admin.DeleteTopicsAsync([topic], new DeleteTopicsOptions { RequestTimeout = timeout, OperationTimeout = timeout }).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DeleteTopicsException ex) when (ex.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.UnknownTopicOrPart))
        {
        }
        catch (KafkaException ex)
        {
            throw LogErrors.Unavailable($"delete topic '{topic}'", ex);
        }
    }
}
