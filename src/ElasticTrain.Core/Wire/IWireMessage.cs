namespace ElasticTrain.Wire;

/// <summary>
/// Marks a message or persisted event that may leave the process: across the cluster or into the
/// journal. reference.conf binds it to <see cref="WireSerializer"/>; types that carry bulk
/// tensor bytes bind to their own binary serializer instead.
/// </summary>
public interface IWireMessage;
