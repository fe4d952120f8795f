namespace ElasticTrain.Collectives;

/// <summary>
/// Which way a point-to-point tensor travels through the pipeline (<see cref="PointToPoint"/>).
/// Values are on the wire (the phase field of its frames): never renumber.
/// </summary>
public enum PipelinePass
{
    /// <summary>A stage's output activations, to the next stage.</summary>
    Forward = 0,

    /// <summary>The gradient of a stage's input activations, to the previous stage.</summary>
    Backward = 1,
}
