using ElasticTrain.Jobs;
using ElasticTrain.Wire;

namespace ElasticTrain.Ranks;

// Evaluation on the held-out windows, between the coordinator and the ranks of a generation.

/// <summary>
/// Compute the summed loss of positions [<paramref name="Offset"/>, <paramref name="Offset"/> +
/// <paramref name="Count"/>) of the held-out windows, forward only, on the state after committed
/// step <paramref name="Step"/> (the rank applies that step first: its mailbox has the ApplyStep
/// before this). The answer is <see cref="HeldOutEvaluated"/>.
/// </summary>
public sealed record EvaluateHeldOut(long Generation, long Step, int Offset, int Count) : IWireMessage;

/// <param name="LossSum">Sum over the rank's held-out windows of each window's mean token loss.</param>
/// <param name="Samples">How many windows that sum is over.</param>
/// <param name="ComputeMs">The forward passes' time.</param>
public sealed record HeldOutEvaluated(long Generation, long Step, RankId Rank, double LossSum, int Samples, double ComputeMs) : IWireMessage;
