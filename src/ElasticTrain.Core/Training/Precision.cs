namespace ElasticTrain.Training;

/// <summary>
/// What forward and backward compute in. Parameters, gradients, optimizer state and the exchange
/// stay fp32 whatever this is (fp32 master weights): only the matrix products and what lies between
/// them run in the low precision, while norms, softmax and the loss stay fp32.
/// </summary>
public enum Precision { Fp32, Bf16, Fp16 }

/// <summary>
/// fp16's dynamic loss scale, with PyTorch GradScaler's rule: the loss is multiplied by the scale
/// before backward so that small gradients survive fp16; a step whose gradient overflowed anywhere
/// in the model (an inf or NaN on any rank) is skipped by every rank and halves the scale; after
/// <see cref="GrowthInterval"/> clean steps in a row the scale doubles.
/// </summary>
/// <remarks>
/// The scale of step k is a pure function of the steps before it that overflowed
/// (<see cref="ScaleAt"/>), which the journal records: a resume, a replay or a coordinator on
/// another node gives every step the scale it had, with no scaler state to carry.
/// </remarks>
/// <param name="Initial">The scale of step 1: 2^16, GradScaler's default.</param>
/// <param name="GrowthInterval">Clean steps in a row after which the scale doubles: 2000, GradScaler's default.</param>
public sealed record LossScaling(double Initial = 65536, int GrowthInterval = 2000)
{
    public const double GrowthFactor = 2, BackoffFactor = 0.5;

    /// <summary>
    /// The scale step <paramref name="step"/> (1-based) runs at, given every step before it that
    /// overflowed (in any order; later ones are ignored).
    /// </summary>
    public double ScaleAt(long step, IEnumerable<long> overflows)
    {
        double scale = Initial;
        long clean = 0, last = 0; // clean steps in a row before the step after `last`
        void Grow(long cleanSteps)
        {
            clean += cleanSteps;
            scale *= Math.Pow(GrowthFactor, clean / GrowthInterval);
            clean %= GrowthInterval;
        }
        foreach (var overflow in overflows.Where(o => o < step).Distinct().Order())
        {
            Grow(overflow - 1 - last);
            scale *= BackoffFactor;
            clean = 0;
            last = overflow;
        }
        Grow(step - 1 - last);
        return scale;
    }
}
